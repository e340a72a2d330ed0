/**
 * The soak's faults. Each is injected on one node (or on the API server, for all of them),
 * excuses the cells it can affect from the moment it starts until the affected agents are seen to
 * have recovered (agent-status.ts), and reports how long that took:
 *
 *   agentKill         SIGKILL the node's agent; recovered when the supervisor's new agent has
 *                     done its first apply and is idle.
 *   chainFlush        flush one of Palisade's ingress chains by hand (iptables -F, or nft flush
 *                     chain in `inet palisade`); recovered when the agent has repaired drift.
 *   setMemberDelete   delete one member of one of its pod peer sets by hand (ipset del, or nft
 *                     delete element); recovered as chainFlush.
 *   watchExpiry       the API server ends every watch and compacts its history (SIGUSR1): every
 *                     resumed watch gets 410 Gone; recovered when both agents watch again at the
 *                     server's current revision (or later) and are idle.
 *   apiServerRestart  stop the API server and start it again with the same state (saved and
 *                     restored, revisions continuing); recovered as watchExpiry.
 *   failingRestore    the node's agent finds failing stand-ins for its kernel tools (its long-lived
 *                     nft or ipset session is killed so that it must start a new one), and a pod
 *                     is created on the node so that it has something to apply; once an apply and
 *                     a retry have failed, the real tools come back; recovered when an apply after
 *                     that succeeded and the agent is idle.
 *   xtablesLock       another process holds the node's xtables lock (flock) for a few seconds
 *                     while a pod is created on the node; recovered when the agent is idle after
 *                     the lock is released. iptables backend only; iptables-nft does not take the
 *                     lock, so there it is held without effect (said in the note).
 *
 * A fault that cannot be injected (nothing to tamper with yet, the wrong backend) is skipped with
 * a reason. Every command is an argv (kernel-targets.ts), run in the node's network namespace.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { agentToolShimDir, agentXtablesLock } from '../sandbox/enforcement';
import { restartApiServer } from '../sandbox/live/apiserver-restart';
import type { KubeRest } from '../sandbox/live/kube-rest';
import { armFailingTools, disarmTools } from '../sandbox/live/tool-shims';
import { inNetns } from '../sandbox/netns';
import { findMarkedProcesses } from '../sandbox/processes';
import { runChecked } from '../sandbox/run';
import type { Sandbox } from '../sandbox/sandbox';
import { findCommand } from '../sandbox/tools';
import { type AgentStatus, type AgentStatusPoller, hasCaughtUp, isIdle } from './agent-status';
import {
  ipsetDeleteArgv,
  ipsetMembers,
  ipsetPodSets,
  iptablesBinary,
  iptablesFlushChainArgv,
  iptablesIngressChains,
  nftDeleteElementArgv,
  nftFlushChainArgv,
  nftListArgv,
  nftListing,
  type IptablesVariant,
} from './kernel-targets';
import type { Scope } from './transitions';

export const FAULT_KINDS = [
  'agentKill',
  'chainFlush',
  'setMemberDelete',
  'watchExpiry',
  'apiServerRestart',
  'failingRestore',
  'xtablesLock',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultEnv {
  readonly sandbox: Sandbox;
  readonly api: KubeRest;
  readonly agents: AgentStatusPoller;
  readonly nodes: readonly string[];
  /** A fault begins at `at` on `scope`: its cells are excused until the returned function is called. */
  begin(scope: Scope, at: number): (end: number) => void;
  /** An API write the agent of `node` has to apply to its kernel (a pod created there). */
  nodeWrite(node: string): Promise<void>;
  /** How long recovery may take before the fault is reported as not recovered. */
  readonly recoveryTimeoutMs: number;
  /** How long the xtables lock is held. */
  readonly lockHoldMs: number;
}

export type FaultResult =
  | {
      readonly injected: true;
      /** From the injection (or the tools' return, failingRestore; the lock's release, xtablesLock) to recovery; null: not within the timeout. */
      readonly recoveredMs: number | null;
      /** False when the fault did not take effect (say, no apply ran while the tools failed). */
      readonly effective: boolean;
      readonly note?: string;
    }
  | { readonly injected: false; readonly reason: string };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** The agent process of `node` in sandbox `id` (its marker and command line). */
export function agentPid(id: string, node: string): number | undefined {
  return findMarkedProcesses(id)
    .map((p) => p.pid)
    .find((pid) => {
      const argv = cmdline(pid);
      return (
        argv.includes('agent') && argv[argv.indexOf('--node-name') + 1] === node && !argv.includes('netns')
      );
    });
}

/** The sandbox's API server process. */
export function apiServerPid(id: string): number | undefined {
  return findMarkedProcesses(id)
    .map((p) => p.pid)
    .find((pid) => cmdline(pid).some((a) => a.includes('apiserver-main')));
}

/** The agent's long-lived kernel tool sessions: `nft -j -i` and `ipset -` (not `nft monitor`). */
function toolSessions(agent: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid !== agent) continue;
    const argv = cmdline(pid).filter((a) => a !== '');
    const tool = argv[0]?.split('/').pop();
    if ((tool === 'nft' && argv.includes('-i')) || (tool === 'ipset' && argv[1] === '-')) out.push(pid);
  }
  return out;
}

export async function injectFault(kind: FaultKind, node: string, env: FaultEnv): Promise<FaultResult> {
  const id = env.sandbox.id;
  const nodeIndex = env.sandbox.plan.nodes.findIndex((n) => n.name === node);
  const inNode = async (argv: string[]): Promise<string> =>
    (await runChecked(inNetns(env.sandbox.names.nodeNs(node), argv))).stdout;
  const status = async (): Promise<AgentStatus | undefined> => env.agents.read(node);
  const timeout = env.recoveryTimeoutMs;
  const nodeScope: Scope = { kind: 'node', name: node };

  /**
   * Runs a tampering step on the node; recovered when the agent is idle and either reports a
   * drift repair since, or its kernel matches its desired state again (an apply may have
   * rewritten or removed what was tampered with before any repair looked). Its status is read
   * every 25 ms, its drift (a kernel read) every 500 ms.
   */
  const tamper = async (act: () => Promise<void>): Promise<FaultResult> => {
    const t0 = Date.now();
    const done = env.begin(nodeScope, t0);
    try {
      await act();
      let at: number | undefined;
      let nextDriftCheck = Date.now() + 500;
      while (at === undefined && Date.now() < t0 + timeout) {
        const s = await status();
        if (s && isIdle(s) && (s.runner?.lastRepaired?.at ?? 0) >= t0) at = Date.now();
        else if (s && isIdle(s) && Date.now() >= nextDriftCheck) {
          nextDriftCheck = Date.now() + 500;
          const drift = await env.agents.drift(node);
          if (drift !== undefined && drift.length === 0) at = Date.now();
        } else await sleep(25);
      }
      return { injected: true, recoveredMs: at === undefined ? null : at - t0, effective: true };
    } finally {
      done(Date.now());
    }
  };

  /** Every agent caught up with the API server's current revision, read after `t0`. */
  const allCaughtUp = async (t0: number): Promise<number | null> => {
    const { resourceVersion } = await env.api.list('/api/v1/namespaces');
    const ats = await Promise.all(
      env.nodes.map((n) => env.agents.waitFor(n, (s) => hasCaughtUp(s, resourceVersion), timeout)),
    );
    return ats.some((a) => a === undefined) ? null : Math.max(...(ats as number[])) - t0;
  };

  switch (kind) {
    case 'agentKill': {
      const pid = agentPid(id, node);
      if (pid === undefined) return { injected: false, reason: 'no agent process on the node' };
      const t0 = Date.now();
      const done = env.begin(nodeScope, t0);
      try {
        process.kill(pid, 'SIGKILL');
        const at = await env.agents.waitFor(
          node,
          (s) => Date.parse(s.startedAt ?? '') >= t0 && isIdle(s),
          timeout,
        );
        return { injected: true, recoveredMs: at === undefined ? null : at - t0, effective: true };
      } finally {
        done(Date.now());
      }
    }

    case 'chainFlush': {
      const s = await status();
      if (!s) return { injected: false, reason: 'the agent does not answer' };
      if (s.backend === 'nftables') {
        const chains = nftListing(await inNode(nftListArgv())).chains;
        if (chains.length === 0)
          return { injected: false, reason: 'no Palisade ingress chain on the node yet' };
        const chain = pick(chains);
        return withNote(await tamper(() => inNode(nftFlushChainArgv(chain)).then(() => undefined)), chain);
      }
      const variant = s.iptablesBackend as IptablesVariant | undefined;
      const chains = iptablesIngressChains(
        await inNode([iptablesBinary('iptables-save', variant), '-t', 'filter']),
      );
      if (chains.length === 0)
        return { injected: false, reason: 'no Palisade ingress chain on the node yet' };
      const chain = pick(chains);
      return withNote(
        await tamper(() => inNode(iptablesFlushChainArgv(chain, variant)).then(() => undefined)),
        chain,
      );
    }

    case 'setMemberDelete': {
      const s = await status();
      if (!s) return { injected: false, reason: 'the agent does not answer' };
      if (s.backend === 'nftables') {
        const sets = nftListing(await inNode(nftListArgv())).podSets.filter((x) => x.elements.length > 0);
        if (sets.length === 0)
          return { injected: false, reason: 'no Palisade pod set with members on the node yet' };
        const set = pick(sets);
        const member = pick(set.elements);
        return withNote(
          await tamper(() => inNode(nftDeleteElementArgv(set.name, member)).then(() => undefined)),
          `${set.name} ${member}`,
        );
      }
      const candidates: { set: string; members: string[] }[] = [];
      for (const set of ipsetPodSets(await inNode(['ipset', 'list', '-n']))) {
        const members = ipsetMembers(await inNode(['ipset', 'list', set]));
        if (members.length > 0) candidates.push({ set, members });
      }
      if (candidates.length === 0)
        return { injected: false, reason: 'no Palisade pod set with members on the node yet' };
      const c = pick(candidates);
      const member = pick(c.members);
      return withNote(
        await tamper(() => inNode(ipsetDeleteArgv(c.set, member)).then(() => undefined)),
        `${c.set} ${member}`,
      );
    }

    case 'watchExpiry': {
      // The sandbox's API server ends every watch on SIGUSR1; resuming one gets 410 Gone.
      const server = apiServerPid(id);
      if (server === undefined) return { injected: false, reason: 'no API server process' };
      const t0 = Date.now();
      const done = env.begin({ kind: 'all' }, t0);
      try {
        process.kill(server, 'SIGUSR1');
        return { injected: true, recoveredMs: await allCaughtUp(t0), effective: true };
      } finally {
        done(Date.now());
      }
    }

    case 'apiServerRestart': {
      const t0 = Date.now();
      const done = env.begin({ kind: 'all' }, t0);
      try {
        const restart = await restartApiServer(env.sandbox.store, env.api, {
          netns: env.sandbox.names.fabricNs,
        });
        return {
          injected: true,
          recoveredMs: await allCaughtUp(t0),
          effective: true,
          note: `down ${restart.downMs} ms`,
        };
      } finally {
        done(Date.now());
      }
    }

    case 'failingRestore': {
      const agent = agentPid(id, node);
      const before = (await status())?.runner;
      if (agent === undefined || !before) return { injected: false, reason: 'the agent does not answer' };
      const dir = agentToolShimDir(env.sandbox.store, nodeIndex);
      const t0 = Date.now();
      const done = env.begin(nodeScope, t0);
      let back = t0;
      try {
        armFailingTools(dir);
        for (const pid of toolSessions(agent)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone already (recycled): the next apply starts one either way
          }
        }
        await env.nodeWrite(node);
        const failed = await env.agents.waitFor(
          node,
          (s) => (s.runner?.applyErrors ?? 0) >= before.applyErrors + 1,
          15_000,
        );
        // A retry fails too (the backoff is seen at work) before the tools come back.
        if (failed !== undefined)
          await env.agents.waitFor(
            node,
            (s) => (s.runner?.applyErrors ?? 0) >= before.applyErrors + 2,
            10_000,
          );
        disarmTools(dir);
        back = Date.now();
        const at = await env.agents.waitFor(
          node,
          (s) => isIdle(s) && (s.runner?.lastApply?.at ?? 0) >= back,
          timeout,
        );
        const errors = ((await status())?.runner?.applyErrors ?? before.applyErrors) - before.applyErrors;
        return {
          injected: true,
          recoveredMs: at === undefined ? null : at - back,
          effective: failed !== undefined,
          note: `${errors} failed applies; applied again ${at === undefined ? '(not within the timeout)' : `${at - back} ms`} after the tools came back`,
        };
      } finally {
        disarmTools(dir);
        done(Date.now());
      }
    }

    case 'xtablesLock': {
      const s = await status();
      if (!s) return { injected: false, reason: 'the agent does not answer' };
      if (s.backend === 'nftables') return { injected: false, reason: 'nftables backend: no xtables lock' };
      const flock = findCommand('flock');
      const sleepBin = findCommand('sleep');
      if (!flock || !sleepBin) return { injected: false, reason: 'no flock or sleep binary' };
      const lock = agentXtablesLock(env.sandbox.store, nodeIndex);
      const argv = inNetns(env.sandbox.names.nodeNs(node), [
        flock,
        '--exclusive',
        '--nonblock',
        lock,
        sleepBin,
        String(env.lockHoldMs / 1000),
      ]);
      const t0 = Date.now();
      const done = env.begin(nodeScope, t0);
      try {
        const holder = spawn(argv[0], argv.slice(1), { stdio: 'ignore' });
        const released = new Promise<number | null>((resolve) => {
          holder.once('exit', (code) => resolve(code));
          holder.once('error', () => resolve(-1));
        });
        await sleep(100);
        if (holder.exitCode !== null) throw new Error(`could not take the xtables lock ${lock}`);
        await env.nodeWrite(node);
        // An apply seen running while the lock is held that ends only after the release waited
        // for the lock; one that ends before it did not need it (iptables-nft).
        const applying = (async () => {
          const seen = await env.agents.waitForStatus(
            node,
            (x) => x.runner?.running === 'apply',
            env.lockHoldMs,
          );
          if (!seen) return undefined;
          const applies = seen.status.runner?.applies ?? 0;
          const finished = await env.agents.waitFor(
            node,
            (x) => (x.runner?.applies ?? 0) > applies,
            env.lockHoldMs + timeout,
          );
          return finished === undefined ? undefined : { seen: seen.at, finished };
        })();
        const code = await released;
        if (code !== 0) throw new Error(`the lock holder exited with ${code}`);
        const back = Date.now();
        const apply = await applying;
        const waited = apply !== undefined && apply.finished >= back;
        const at = await env.agents.waitFor(node, isIdle, timeout);
        return {
          injected: true,
          recoveredMs: at === undefined ? null : Math.max(0, at - back),
          effective: waited,
          note: waited
            ? `an apply waited for the lock from ${apply.seen - t0} ms into the hold until ${apply.finished - back} ms after the release`
            : s.iptablesBackend === 'nft'
              ? 'iptables-nft does not take the xtables lock: held without effect'
              : 'no apply waited for the lock',
        };
      } finally {
        done(Date.now());
      }
    }
  }
}

function pick<T>(xs: readonly T[]): T {
  return xs[Math.floor(Math.random() * xs.length)];
}

function withNote(r: FaultResult, note: string): FaultResult {
  return r.injected ? { ...r, note } : r;
}
