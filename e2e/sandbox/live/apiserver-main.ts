/**
 * The sandbox's API server: the test API server (e2e/apiserver) over HTTPS with the sandbox's
 * bearer token, graceful pod deletion (the simulator's kubelets remove pods), and exec into
 * pods: a command runs in the pod's network namespace (its node's, for a hostNetwork pod) with
 * this machine's binaries, `palisade` first on its PATH.
 *
 *   apiserver-main.js --config <state>/live-cluster.json --objects F --host H --port P --tls-key K --tls-cert C
 *
 * Restartable as a real API server is (its etcd outlives it): on SIGTERM or SIGINT it stops
 * serving, then writes every object and the revision counter to `apiserver-state.json` beside
 * the config; started again with the same arguments, it serves that state instead of the objects
 * file, resourceVersions continuing where they were. Clients' watches break, and resuming one
 * from an older resourceVersion gets 410 Expired (there is no history from before the restart),
 * so informers relist, as against a restarted kube-apiserver. A SIGKILLed server saves nothing.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ApiError } from '../../apiserver/errors';
import { readObjectsFile } from '../../apiserver/state-file';
import { startApiServer, type SavedState } from '../../apiserver/server';
import type { ExecBackend } from '../../apiserver/exec/exec-process';
import { livePodNetns } from '../names';
import { findCommand } from '../tools';
import { execMarkPath, readLiveConfig } from './config';

function value(argv: readonly string[], flag: string): string {
  const i = argv.indexOf(flag);
  if (i < 0 || argv[i + 1] === undefined) throw new Error(`${flag} is required`);
  return argv[i + 1];
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const configPath = value(argv, '--config');
  const config = readLiveConfig(configPath);
  const stateFile = join(dirname(configPath), 'apiserver-state.json');
  const saved = existsSync(stateFile)
    ? (JSON.parse(readFileSync(stateFile, 'utf8')) as SavedState)
    : undefined;
  const nsenter = findCommand('nsenter') ?? 'nsenter';
  const exec: ExecBackend = {
    prefix({ pod }) {
      const meta = pod.metadata;
      const spec = (pod.spec ?? {}) as { hostNetwork?: boolean; nodeName?: string };
      const netns = spec.hostNetwork
        ? config.nodes.find((n) => n.name === spec.nodeName)?.ns
        : livePodNetns(config.id, meta.namespace ?? '', meta.name ?? '', meta.uid ?? '');
      if (!netns || !existsSync(`/run/netns/${netns}`))
        throw new ApiError(
          400,
          'BadRequest',
          `unable to upgrade connection: container not found in pod ${meta.name ?? ''}: its network namespace does not exist`,
        );
      // The kubelet stops what runs in a pod's namespace when the pod goes, if marked.
      if (!spec.hostNetwork) writeFileSync(execMarkPath(config.podsDir, meta.uid ?? ''), '');
      return [nsenter, `--net=/run/netns/${netns}`, '--'];
    },
    env() {
      return {
        ...process.env,
        PATH: `${config.binDir}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
      };
    },
  };
  const server = await startApiServer({
    host: value(argv, '--host'),
    port: Number(value(argv, '--port')),
    ...(saved
      ? { restore: saved }
      : { objects: readObjectsFile(value(argv, '--objects')), seedNamespaces: ['default', 'kube-system'] }),
    token: readFileSync(config.tokenFile, 'utf8').trim(),
    tls: { key: readFileSync(value(argv, '--tls-key'), 'utf8'), cert: readFileSync(config.caFile, 'utf8') },
    gracefulPodDeletion: true,
    exec,
  });
  // The simulator's way in: a path socket is visible from every network namespace, and unlike the
  // fabric relay it adds no process (and no second connection) per request.
  await server.listenOnSocket(config.apiSocket);
  if (saved) rmSync(stateFile);
  process.stdout.write(
    `palisade sandbox API server listening on ${server.url} and ${config.apiSocket}` +
      (saved ? ` (restarted at resourceVersion ${saved.revision}, ${saved.objects.length} objects)` : '') +
      '\n',
  );
  const shutdown = (): void => {
    void server.stop().then(() => {
      // Stopped first: no write can land after the state is taken.
      const state = server.saveState();
      writeFileSync(`${stateFile}.tmp`, JSON.stringify(state));
      renameSync(`${stateFile}.tmp`, stateFile);
      process.exit(0);
    });
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  // The soak's watch-expiry fault: every watch ends and resuming one gets 410 Gone (relist).
  process.on('SIGUSR1', () => server.expireWatches());
}

main().catch((e: Error) => {
  process.stderr.write(`sandbox API server failed: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
