/**
 * Renders kustomizations the way `kubectl apply -k` would, with the real kustomize inside
 * kubectl. kubectl is a hard requirement of these tests: when it is missing they fail with an
 * install hint rather than skip, since manifests nobody rendered are manifests nobody checked.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** The fields every Kubernetes object has; the rest is read through narrowing helpers. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

/** Runs a program (argv, never a shell) from the repository root; throws with its stderr on failure. */
export function run(argv: readonly string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): string {
  const [file, ...args] = argv;
  const r = spawnSync(file, args, {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: opts.env ?? process.env,
    input: opts.input,
  });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && file === 'kubectl') {
      throw new Error(
        'kubectl is not installed; these tests render the manifests with `kubectl kustomize`. ' +
          "Install kubectl 1.21 or newer (https://kubernetes.io/docs/tasks/tools/). Debian bookworm's " +
          'kubernetes-client package (1.20) renders manifests/ but not the overlays of `make render`.',
      );
    }
    throw new Error(`${argv.join(' ')}: ${r.error.message}`);
  }
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

/** Parses a multi-document YAML stream into objects; YAML errors throw. */
export function parseObjects(text: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    objects.push(value as K8sObject);
  }
  return objects;
}

/** `kubectl kustomize DIR` (DIR relative to the repository root), parsed. */
export function kustomize(dir: string): K8sObject[] {
  return parseObjects(run(['kubectl', 'kustomize', dir]));
}

export function findObject(objects: readonly K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0];
}
