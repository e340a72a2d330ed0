/**
 * The teardown registry: what a sandbox created, on disk, so that the sandbox can be torn down
 * by this process (on success, error or signal) or later by `palisade sandbox down`.
 *
 * How it works: every namespace and process is recorded (synchronously, by an atomic rename)
 * *before* it is created or right after spawn returns its pid, so a crash at any point leaves
 * a state file that covers everything that exists. The directory also holds endpoint control
 * sockets and process logs. Location: $PALISADE_SANDBOX_STATE_DIR, else /run/palisade-sandbox
 * for root, else $XDG_RUNTIME_DIR/palisade-sandbox.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SandboxPlan, Topology } from './plan';
import { isRunning, type TrackedProcess } from './processes';
import { SANDBOX_ID_PATTERN } from './names';

export interface SandboxState {
  readonly version: 1;
  readonly id: string;
  readonly createdAt: string;
  readonly topology: Topology;
  readonly plan: SandboxPlan;
  /** Whether agents enforce policy in this sandbox. */
  readonly agents: boolean;
  /** building → ready → (kept) → tearing-down. */
  readonly phase: 'building' | 'ready' | 'tearing-down';
  readonly kept: boolean;
  /** The process that built the sandbox and tears it down unless it is kept. */
  readonly owner: TrackedProcess;
  readonly namespaces: readonly string[];
  readonly processes: readonly TrackedProcess[];
  /** URL of the test API server inside the sandbox, when agents run. */
  readonly apiServerUrl?: string;
  /** The same server from the host namespace (through the relays), when agents run. */
  readonly localApiServerUrl?: string;
  /** A kubeconfig for `localApiServerUrl`, when agents run. */
  readonly kubeconfig?: string;
}

export function stateRoot(): string {
  const override = process.env.PALISADE_SANDBOX_STATE_DIR;
  if (override) return override;
  if (process.getuid?.() === 0) return '/run/palisade-sandbox';
  const runtime = process.env.XDG_RUNTIME_DIR;
  return join(runtime && runtime !== '' ? runtime : '/tmp', 'palisade-sandbox');
}

export class StateStore {
  readonly dir: string;
  private current: SandboxState;

  private constructor(dir: string, state: SandboxState) {
    this.dir = dir;
    this.current = state;
  }

  /** Creates the directory of a new sandbox; fails if the id is taken. */
  static create(initial: SandboxState, root = stateRoot()): StateStore {
    const dir = join(root, initial.id);
    mkdirSync(root, { recursive: true, mode: 0o700 });
    mkdirSync(dir, { mode: 0o700 });
    mkdirSync(join(dir, 'logs'));
    mkdirSync(join(dir, 'sock'));
    const store = new StateStore(dir, initial);
    store.persist();
    return store;
  }

  static open(id: string, root = stateRoot()): StateStore {
    const dir = join(root, id);
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as SandboxState;
    if (state.version !== 1 || state.id !== id) throw new Error(`unexpected state file in ${dir}`);
    return new StateStore(dir, state);
  }

  /** Ids of every sandbox with a state directory (kept, or left behind by a crash). */
  static list(root = stateRoot()): string[] {
    if (!existsSync(root)) return [];
    return readdirSync(root)
      .filter((d) => SANDBOX_ID_PATTERN.test(d) && existsSync(join(root, d, 'state.json')))
      .sort();
  }

  /** Sandboxes nobody is running: kept ones, and ones whose owner died without tearing down. */
  static listUnowned(root = stateRoot()): string[] {
    return StateStore.list(root).filter((id) => {
      try {
        const s = StateStore.open(id, root).state;
        return s.kept || !isRunning(s.owner);
      } catch {
        return false;
      }
    });
  }

  static exists(id: string, root = stateRoot()): boolean {
    return existsSync(join(root, id));
  }

  get state(): SandboxState {
    return this.current;
  }

  update(change: (s: SandboxState) => SandboxState): void {
    this.current = change(this.current);
    this.persist();
  }

  addNamespaces(names: readonly string[]): void {
    this.update((s) => ({
      ...s,
      namespaces: [...s.namespaces, ...names.filter((n) => !s.namespaces.includes(n))],
    }));
  }

  addProcess(p: TrackedProcess): void {
    this.update((s) => ({ ...s, processes: [...s.processes, p] }));
  }

  /** `next` took over `previous`'s job (a restarted process): only `next` is recorded. */
  replaceProcess(previous: TrackedProcess, next: TrackedProcess): void {
    this.update((s) => ({
      ...s,
      processes: [
        ...s.processes.filter((p) => !(p.pid === previous.pid && p.startTicks === previous.startTicks)),
        next,
      ],
    }));
  }

  logPath(name: string): string {
    return join(this.dir, 'logs', `${name}.log`);
  }

  socketPath(name: string): string {
    return join(this.dir, 'sock', `${name}.sock`);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private persist(): void {
    const file = join(this.dir, 'state.json');
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.current, null, 1));
    renameSync(tmp, file);
  }
}
