/**
 * CLI: serve objects from files for the sandbox or by hand.
 *
 *   node dist/e2e/apiserver/main.js --objects cluster.yaml --port 6443 --kubeconfig /tmp/kc --save state.json
 *
 * --objects may repeat (multi-document YAML or JSON: objects, Lists, arrays); --save writes every object
 * as a JSON List after each change (and a state file saved so can be served again with --objects).
 * Ends on SIGINT/SIGTERM.
 */
import { Command, InvalidArgumentError } from 'commander';
import { readObjectsFile, writeStateFile } from './state-file';
import { CLUSTER_NETWORK_POLICY_CRD, CLUSTER_NETWORK_POLICY_CRD_NAME } from './kinds/cluster-network-policy';
import { startApiServer } from './server';
import type { KubeObject } from './types';

function integer(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a non-negative integer');
  return Number(value);
}

async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('palisade-apiserver')
    .description(
      'Kubernetes-API-compatible test server for Namespaces, Pods, NetworkPolicies, Nodes and CustomResourceDefinitions (ClusterNetworkPolicy once its CRD is there; plain HTTP, no auth)',
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', integer, 0)
    .option(
      '--objects <file>',
      'objects to serve (YAML or JSON); may repeat',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--save <file>', 'write every object to this JSON file after each change')
    .option('--kubeconfig <file>', 'write a kubeconfig for this server to this file')
    .option('--bookmark-interval-ms <ms>', 'period of watch BOOKMARK events', integer, 1000)
    .option('--history-limit <n>', 'watch events kept for replay', integer, 1000)
    .option('--log-requests', 'print each request (method, URL, status, Accept) to stderr')
    .option(
      '--cluster-network-policy-crd',
      'start with the ClusterNetworkPolicy CRD installed (otherwise serve it once a CRD object is created or loaded)',
    )
    .parse(argv);
  const opts = program.opts<{
    host: string;
    port: number;
    objects: string[];
    save?: string;
    kubeconfig?: string;
    bookmarkIntervalMs: number;
    historyLimit: number;
    logRequests?: boolean;
    clusterNetworkPolicyCrd?: boolean;
  }>();
  const objects: KubeObject[] = opts.objects.flatMap((file) => readObjectsFile(file));
  if (
    opts.clusterNetworkPolicyCrd &&
    !objects.some((o) => o.metadata?.name === CLUSTER_NETWORK_POLICY_CRD_NAME)
  )
    objects.unshift(structuredClone(CLUSTER_NETWORK_POLICY_CRD));
  const server = await startApiServer({
    host: opts.host,
    port: opts.port,
    objects,
    bookmarkIntervalMs: opts.bookmarkIntervalMs,
    historyLimit: opts.historyLimit,
    onRequest: opts.logRequests
      ? (r) =>
          process.stderr.write(
            `${r.status ?? '-'} ${r.method} ${r.url} accept=${r.accept ?? ''} content-type=${r.contentType ?? ''}\n`,
          )
      : undefined,
  });
  if (opts.kubeconfig) server.writeKubeconfig(opts.kubeconfig);
  const save = opts.save;
  if (save) {
    let pending: NodeJS.Timeout | undefined;
    const flush = () => {
      pending = undefined;
      writeStateFile(save, server.snapshot());
    };
    flush();
    server.onChange(() => {
      pending ??= setTimeout(flush, 50);
    });
    process.on('exit', () => pending && flush());
  }
  process.stdout.write(
    `palisade test apiserver listening on ${server.url} (${objects.length} objects loaded)\n`,
  );
  const shutdown = () => {
    void server.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main(process.argv).catch((err: unknown) => {
  process.stderr.write(`palisade-apiserver: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
