/**
 * A whole agent in this process for the operator-command tests (no root): the real test API
 * server holding `objects`, client-node, compiler, dataplane and debug socket, over an in-memory
 * kernel: FakeKernel (iptables backend) or FakeNft (nftables backend). Retries and reconnects
 * are fast (20–200 ms) so failures heal within a test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeKernel } from '../../../../dataplane/api';
import { FakeNft } from '../../../../dataplane/nftables/fake-nft';
import { startApiServer, type KubeObject, type TestApiServer } from '../../../../e2e/apiserver';
import { Agent } from '../../../daemon/agent';
import { parseConfig } from '../../../daemon/config';
import { silentLogger } from '../../../daemon/logger';
import { cli, NODE, type CliRun } from './scenario';

export type Backend = 'iptables' | 'nftables';
export const BACKENDS: readonly Backend[] = ['iptables', 'nftables'];

/** The in-memory kernel each backend runs on. */
export interface FakeKernels {
  iptables: FakeKernel;
  nftables: FakeNft;
}

export interface InProcessAgent<B extends Backend> {
  readonly dir: string;
  readonly socket: string;
  readonly server: TestApiServer;
  readonly kernel: FakeKernels[B];
  readonly agent: Agent;
  /** Runs `palisade ARGS --agent SOCKET` in this process. */
  live(...args: string[]): Promise<CliRun>;
  /** The same with `-o json`: requires exit 0 and no stderr, returns the parsed document. */
  // JSON documents are checked field by field by the tests; `any` keeps those checks readable.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json<T = Record<string, any>>(...args: string[]): Promise<T>;
  stop(): Promise<void>;
}

export interface InProcessAgentOptions<B extends Backend> {
  readonly backend: B;
  /** Prefix of the temporary directory (socket, kubeconfig). */
  readonly prefix: string;
  readonly objects: KubeObject[];
  /** The periodic drift check; `1h` keeps it out of a test. */
  readonly resyncInterval: string;
}

export async function startInProcessAgent<B extends Backend>(
  opts: InProcessAgentOptions<B>,
): Promise<InProcessAgent<B>> {
  const dir = mkdtempSync(join(tmpdir(), opts.prefix));
  const socket = join(dir, 'palisade.sock');
  const server = await startApiServer({ objects: opts.objects });
  server.writeKubeconfig(join(dir, 'kubeconfig'));
  const kernel = (opts.backend === 'nftables' ? new FakeNft() : new FakeKernel()) as FakeKernels[B];
  const { config, problems } = parseConfig({
    nodeName: NODE,
    kubeconfig: join(dir, 'kubeconfig'),
    metricsAddress: '',
    debugSocket: socket,
    resyncInterval: opts.resyncInterval,
    ...(opts.backend === 'nftables' ? { backend: 'nftables' } : {}),
  });
  expect(problems).toEqual([]);
  const agent = new Agent(config, {
    kernel,
    log: silentLogger(),
    reflectorBackoff: { initialMs: 20, maxMs: 200 },
    retryBackoff: { initialMs: 20, maxMs: 200 },
  });
  await agent.start();
  await agent.whenReady();
  const live = (...args: string[]) => cli([...args, '--agent', socket]);
  return {
    dir,
    socket,
    server,
    kernel,
    agent,
    live,
    async json<T>(...args: string[]): Promise<T> {
      const r = await live(...args, '-o', 'json');
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      return JSON.parse(r.out) as T;
    },
    async stop() {
      await agent.stop('test over');
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
