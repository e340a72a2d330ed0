/**
 * The cluster the operator-command tests run against, with answers known by construction, and
 * a way to run the CLI in-process with its output captured.
 *
 *   namespaces x (team=x), y (team=y)
 *   node-a: x/a app=web (named port http = 80/TCP), x/b app=db, y/c app=client
 *   node-b: y/r app=client (a peer for node-a's agent, never a subject)
 *   x/deny       every pod of x isolated for ingress, no rule
 *   x/allow-web  app=web pods: ingress from namespaces team=y on named port http
 *   y/egress     app=client pods: egress only to namespaces team=x on 80/TCP
 *
 *   y/c -> x/a 80   allowed (y/egress egress[0], x/allow-web ingress[0])
 *   y/c -> x/a 81   denied  (egress: y/egress allows 80 only; ingress: http is 80)
 *   x/b -> x/a 80   denied  (ingress: x/b is in namespace x, not team=y)
 *   y/c -> x/b 80   denied  (ingress: only x/deny selects x/b)
 *   y/r -> x/a 80   allowed by node-a; the egress of y/r is node-b's to decide
 */
import { readFileSync } from 'node:fs';
import type { KubeObject } from '../../../../e2e/apiserver';
import { namespace, pod, policy } from '../../../kube/testutil/objects';
import type { CliContext } from '../../context';
import { runCli } from '../../program';

export const NODE = 'node-a';

export const PODS = [
  {
    key: 'x/a',
    ip: '10.244.0.10',
    node: NODE,
    labels: { app: 'web' },
    ports: [{ name: 'http', containerPort: 80 }],
  },
  { key: 'x/b', ip: '10.244.0.11', node: NODE, labels: { app: 'db' }, ports: [] },
  { key: 'y/c', ip: '10.244.0.12', node: NODE, labels: { app: 'client' }, ports: [] },
  { key: 'y/r', ip: '10.244.0.20', node: 'node-b', labels: { app: 'client' }, ports: [] },
] as const;

export function clusterObjects(): KubeObject[] {
  return [
    namespace('x', { team: 'x' }),
    namespace('y', { team: 'y' }),
    ...PODS.map((p) => pod(p.key, { labels: { ...p.labels }, ip: p.ip, node: p.node, ports: [...p.ports] })),
    policy('x/deny', { podSelector: {}, policyTypes: ['Ingress'] }),
    policy('x/allow-web', {
      podSelector: { matchLabels: { app: 'web' } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'y' } } }], ports: [{ port: 'http' }] }],
    }),
    policy('y/egress', {
      podSelector: { matchLabels: { app: 'client' } },
      policyTypes: ['Egress'],
      egress: [
        {
          to: [{ namespaceSelector: { matchLabels: { team: 'x' } } }],
          ports: [{ protocol: 'TCP', port: 80 }],
        },
      ],
    }),
  ];
}

export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** Runs one `palisade` command line in this process. */
export async function cli(
  args: readonly string[],
  opts: { tty?: boolean; env?: Record<string, string> } = {},
): Promise<CliRun> {
  let out = '';
  let err = '';
  const ctx: CliContext = {
    stdout: (t) => (out += t),
    stderr: (t) => (err += t),
    isTTY: opts.tty ?? false,
    env: opts.env ?? {},
    readFile: (p) => readFileSync(p, 'utf8'),
  };
  const code = await runCli(args, ctx);
  return { code, out, err };
}
