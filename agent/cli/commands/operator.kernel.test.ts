/**
 * The operator commands against a real `palisade agent` process in a node network namespace
 * (agent/daemon/testutil: pods are namespaces behind routed veths, the test API server runs in
 * this process), each command spawned as a real process (`node dist/agent/cli/main.js ...`).
 * The cluster and its known answers: live/testutil/scenario.ts.
 *
 * Truth comes from outside the CLI: connections between the pod namespaces, iptables-save,
 * `iptables -L -v` packet counters (the rule explain names is the one that counts the packet),
 * and `ipset save`. Needs root and `npm run build`.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describeKernel } from '../../../dataplane/testutil/netns';
import { startApiServer, type TestApiServer } from '../../../e2e/apiserver';
import { AgentProcess } from '../../daemon/testutil/agent-process';
import { NodeSandbox } from '../../daemon/testutil/node-sandbox';
import { RestoreStub } from '../../daemon/testutil/restore-stub';
import { eventually } from '../../kube/testutil/eventually';
import { CLI_MAIN, palisade, runProcess, type ProcessRun } from '../live/testutil/cli-process';
import { clusterObjects, NODE, PODS } from '../live/testutil/scenario';

jest.setTimeout(180_000);

const PLUGIN = resolve(__dirname, '../../../manifests/kubectl-palisade');

describeKernel('operator CLI against a real agent', () => {
  let dir: string;
  let sandbox: NodeSandbox;
  let server: TestApiServer;
  let stub: RestoreStub;
  let agent: AgentProcess;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'palisade-operator-kernel-'));
    sandbox = await NodeSandbox.create();
    // y/r is node-b's pod in the API; its namespace hangs off this node too, so its packets
    // cross node-a's FORWARD chain as they would arriving from another node.
    for (const p of PODS) await sandbox.addPod(p.key, p.ip);
    server = await startApiServer({ host: sandbox.hostIP, objects: clusterObjects() });
    server.writeKubeconfig(join(dir, 'kubeconfig'));
    stub = new RestoreStub(dir);
    agent = AgentProcess.start({
      sandbox,
      kubeconfig: join(dir, 'kubeconfig'),
      dir,
      nodeName: NODE,
      resyncInterval: '1s',
      pathPrefix: stub.pathPrefix,
    });
    await agent.waitReady();
    await agent.waitSettled();
  });

  afterAll(async () => {
    if (agent) {
      agent.kill('SIGKILL');
      await agent.exit;
    }
    await server?.stop();
    await sandbox?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const cli = (...args: string[]) => palisade([...args, '--agent', agent.socket]);
  // JSON documents are checked field by field below; `any` keeps those checks readable.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async function json<T = Record<string, any>>(...args: string[]): Promise<T> {
    const r = await cli(...args, '-o', 'json');
    if (r.code !== 0) throw new Error(`palisade ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as T;
  }
  const inNode = (...argv: string[]) => sandbox.inNode(argv);
  const probe = (from: string, to: string, port: number, timeoutMs = 3000) =>
    sandbox.pod(from).prober.probe(sandbox.pod(to).ip, port, timeoutMs);

  /** Packet counters of a chain's rules, by rule number (`iptables -L CHAIN -v -x -n --line-numbers`). */
  async function counters(chain: string): Promise<Map<number, number>> {
    const out = await inNode('iptables-nft', '-L', chain, '-v', '-x', '-n', '--line-numbers');
    const m = new Map<number, number>();
    for (const line of out.split('\n')) {
      const f = /^(\d+)\s+(\d+)\s/.exec(line);
      if (f) m.set(Number(f[1]), Number(f[2]));
    }
    return m;
  }

  /** The Nth `-A CHAIN` rule as iptables-save prints it. */
  async function kernelRule(chain: string, n: number): Promise<string | undefined> {
    const out = await inNode('iptables-nft', '-S', chain);
    return out.split('\n').filter((l) => l.startsWith(`-A ${chain} `))[n - 1];
  }

  test('status: synced, and its counts are what the kernel holds', async () => {
    const s = await json('status');
    expect(s).toMatchObject({ node: NODE, synced: true, ready: true, healthy: true, applyErrors: 0 });
    expect(s.counts).toMatchObject({ localPods: 3, policies: 3, clusterPods: 4, clusterPolicies: 3 });
    const chains = [
      ...(await inNode('iptables-nft-save', '-t', 'filter')).split('\n'),
      ...(await inNode('ip6tables-nft-save', '-t', 'filter')).split('\n'),
    ];
    expect(chains.filter((l) => l.startsWith(':PALISADE-'))).toHaveLength(s.counts.chains);
    // Rules: those of our chains and our hook rules in FORWARD.
    expect(chains.filter((l) => l.startsWith('-A PALISADE-') || / -j PALISADE-\S+$/.test(l))).toHaveLength(
      s.counts.rules,
    );
    const sets = (await inNode('ipset', 'save')).split('\n');
    expect(sets.filter((l) => l.startsWith('create PALISADE-'))).toHaveLength(s.counts.ipsets);
    expect(sets.filter((l) => l.startsWith('add PALISADE-'))).toHaveLength(s.counts.members);
    const human = await cli('status');
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^Agent on node-a \(socket .*palisade\.sock\)$/m);
    expect(human.stdout).toMatch(/^ {2}local pods +3 {2}policy targets on node-a/m);
  });

  test('rules x/a: policies, peers resolved to pods, the named port, and the kernel lines as they are', async () => {
    const r = await json('rules', 'x/a');
    expect(r.ingress.policies.map((p: { key: string }) => p.key)).toEqual(['x/allow-web', 'x/deny']);
    const rule = r.ingress.policies[0].rules[0];
    expect(rule.peers[0].members.map((m: { pod: string }) => m.pod)).toEqual(['y/c', 'y/r']);
    expect(rule.ports[0]).toMatchObject({
      name: 'http',
      resolved: [{ address: '10.244.0.10', port: 80, pod: 'x/a' }],
    });
    // The kernel line it names is the one iptables-save has at that position.
    const k = rule.kernel[0];
    const saved = await kernelRule(k.chain, k.rule);
    expect(saved).toBeDefined();
    for (const token of k.spec.split(' ')) expect(saved!.split(' ')).toContain(token);
    // Every set it names holds what `ipset save` says.
    const saveOut = await inNode('ipset', 'save');
    for (const s of r.kernel.ipsets as Array<{ name: string; members: string[] }>) {
      const members = saveOut
        .split('\n')
        .filter((l) => l.startsWith(`add ${s.name} `))
        .map((l) => l.slice(`add ${s.name} `.length));
      expect([...s.members].sort()).toEqual(members.sort());
    }
    const human = await cli('rules', 'x/a');
    expect(human.stdout).toContain('  x/allow-web (selects app=web)');
    expect(human.stdout).toMatch(/^ +y\/r +10\.244\.0\.20 +node node-b$/m);
    const remote = await cli('rules', 'y/r');
    expect(remote.code).toBe(2);
    expect(remote.stderr).toContain('y/r runs on node node-b');
  });

  test('explain, allowed: the deciding rules, and the kernel rule it names counts the real packet', async () => {
    const r = await json('explain', '--from', 'y/c', '--to', 'x/a', '--port', '80/TCP');
    expect(r.allowed).toBe(true);
    expect(r.verdict.ingress.allowedBy).toEqual([{ policy: 'x/allow-web', direction: 'ingress', rule: 0 }]);
    expect(r.verdict.egress.allowedBy).toEqual([{ policy: 'y/egress', direction: 'egress', rule: 0 }]);
    const decided = r.kernelPath.decidedBy;
    expect(decided.note).toBe('x/allow-web ingress rule 0');
    expect(r.kernelAgrees).toBe(true);
    const before = (await counters(decided.chain)).get(decided.rule) ?? 0;
    expect(await probe('y/c', 'x/a', 80)).toBe('ok');
    const after = (await counters(decided.chain)).get(decided.rule) ?? 0;
    expect(after).toBeGreaterThan(before);
    const human = await cli('explain', '--from', 'y/c', '--to', 'x/a', '--port', '80/TCP');
    expect(human.code).toBe(0);
    expect(human.stdout.split('\n')[0]).toBe('ALLOWED: y/c -> x/a on 80/TCP');
    expect(human.stdout).toContain(`> ${decided.chain} #${decided.rule}`);
  });

  test('explain, denied: the isolating policies, and the DROP rule it names drops the real packet', async () => {
    const r = await json('explain', '--from', 'x/b', '--to', 'x/a', '--port', '80');
    expect(r.allowed).toBe(false);
    expect(r.verdict.ingress).toMatchObject({ isolatingPolicies: ['x/allow-web', 'x/deny'], allowedBy: [] });
    expect(r.explanation.details[1]).toMatch(
      /^ {2}x\/allow-web ingress\[0\] \(from every pod in namespaces matching team=y, on named port http\/TCP\): peer does not match: namespace x \(labels team=x,\S*\) does not match team=y$/m,
    );
    const drop = r.kernelPath.decidedBy;
    expect(drop).toMatchObject({ spec: '-j DROP', note: 'pod x/a: no policy allows ingress' });
    expect(await kernelRule(drop.chain, drop.rule)).toMatch(/ -j DROP$/);
    const before = (await counters(drop.chain)).get(drop.rule) ?? 0;
    expect(await probe('x/b', 'x/a', 80, 800)).toBe('timeout');
    expect((await counters(drop.chain)).get(drop.rule) ?? 0).toBeGreaterThan(before);
  });

  test('explain from another node’s pod: its egress is decided there, said plainly', async () => {
    const r = await json('explain', '--from', 'y/r', '--to', 'x/a', '--port', '80');
    expect(r.decidedElsewhere).toEqual([{ direction: 'egress', pod: 'y/r', node: 'node-b' }]);
    const human = await cli('explain', '--from', 'y/r', '--to', 'x/a', '--port', '80');
    expect(human.stdout.split('\n')[0]).toBe(
      'ALLOWED: y/r -> x/a on 80/TCP (by node-a; the egress of y/r is decided on node-b)',
    );
    expect(human.stdout).toContain(
      'For the other half: kubectl palisade --node node-b explain --from y/r --to x/a --port 80/TCP',
    );
    expect(await probe('y/r', 'x/a', 80)).toBe('ok');
  });

  test('chains and ipsets list exactly the kernel’s own objects, with their origin', async () => {
    const c = await json('chains');
    const saved = [
      ...(await inNode('iptables-nft-save', '-t', 'filter')).split('\n').map((l) => `4 ${l}`),
      ...(await inNode('ip6tables-nft-save', '-t', 'filter')).split('\n').map((l) => `6 ${l}`),
    ]
      .map((l) => /^(\d) :(PALISADE-\S+) /.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => `${m[1]} ${m[2]}`);
    expect(c.chains.map((x: { family: number; name: string }) => `${x.family} ${x.name}`).sort()).toEqual(
      saved.sort(),
    );
    expect(
      c.chains.find((x: { owner?: string; kind: string }) => x.kind === 'policy' && x.owner === 'y/egress'),
    ).toBeDefined();
    const s = await json('ipsets');
    const names = (await inNode('ipset', 'list', '-n')).split('\n').filter((n) => n.startsWith('PALISADE-'));
    expect(s.ipsets.map((x: { name: string }) => x.name).sort()).toEqual(names.sort());
    expect(s.ipsets.every((x: { state: string }) => x.state === 'in sync')).toBe(true);
  });

  describe('drift, and the kubectl plugin', () => {
    let kubectlDir: string;
    const plugin = (...args: string[]): Promise<ProcessRun> =>
      runProcess(['bash', PLUGIN, ...args], {
        PATH: `${kubectlDir}:${process.env.PATH ?? ''}`,
        PALISADE_AGENT: agent.socket,
        FAKE_KUBECTL_LOG: join(kubectlDir, 'log'),
      });

    beforeAll(() => {
      // A stand-in kubectl: finds one agent pod on node-a, and runs `kubectl exec ... -- palisade
      // ARGS` as the built CLI here (PALISADE_AGENT points it at the test agent's socket).
      kubectlDir = join(dir, 'kubectl-bin');
      const script = `#!/bin/bash
args=("$@")
echo "$*" >> "$FAKE_KUBECTL_LOG"
case " $* " in
  *" exec "*)
    for i in "\${!args[@]}"; do [ "\${args[$i]}" = "--" ] && { start=$((i + 2)); break; }; done
    exec '${process.execPath}' '${CLI_MAIN}' "\${args[@]:$start}" ;;
  *"spec.nodeName=node-a "*) printf 'palisade-x7k2p\\n' ;;
  *" get pods "*) ;;
  *) echo "fake kubectl: unexpected $*" >&2; exit 3 ;;
esac
`;
      mkdirSync(kubectlDir, { recursive: true });
      writeFileSync(join(kubectlDir, 'kubectl'), script);
      chmodSync(join(kubectlDir, 'kubectl'), 0o755);
    });

    test('in sync: diff is silent and exits 0, directly and through kubectl palisade --node', async () => {
      expect(await cli('diff')).toEqual({ code: 0, stdout: '', stderr: '' });
      expect(await plugin('--node', NODE, 'diff')).toEqual({ code: 0, stdout: '', stderr: '' });
      const log = readFileSync(join(kubectlDir, 'log'), 'utf8');
      expect(log).toContain('-n palisade-system exec palisade-x7k2p -c agent -- palisade diff');
      const st = await plugin('--node', NODE, 'status', '-o', 'json');
      expect(st.code).toBe(0);
      expect(JSON.parse(st.stdout)).toMatchObject({ node: NODE, ready: true });
      const ex = await plugin('--node', NODE, 'explain', '--from', 'y/c', '--to', 'x/b', '--port', '80');
      expect(ex.code).toBe(0);
      expect(ex.stdout.split('\n')[0]).toBe('DENIED: y/c -> x/b on 80/TCP');
      const none = await plugin('--node', 'node-z', 'status');
      expect(none.code).toBe(1);
      expect(none.stderr).toContain('no palisade agent pod on node node-z');
    });

    test('a chain deleted by hand: diff names it, exit 1 (also through the plugin); silent after repair', async () => {
      // Keep the agent from repairing until the test has looked: its restores fail meanwhile.
      stub.set('fail', true);
      try {
        const rules = await json('rules', 'x/b');
        const podChain: string = rules.kernel.chains.find((c: { kind: string }) => c.kind === 'pod').name;
        const saved = await inNode('iptables-nft-save', '-t', 'filter');
        const stripped = saved
          .split('\n')
          .filter(
            (l) =>
              !l.startsWith(`:${podChain} `) &&
              !l.startsWith(`-A ${podChain} `) &&
              !l.includes(`-g ${podChain}`),
          )
          .join('\n');
        await sandbox.inNode(['iptables-nft-restore'], stripped);
        expect(await inNode('iptables-nft-save', '-t', 'filter')).not.toContain(podChain);

        const d = await cli('diff');
        expect(d.code).toBe(1);
        expect(d.stdout).toContain(`chain ${podChain} (IPv4) missing  [pod x/b, ingress]`);
        expect(d.stdout).toContain('chain PALISADE-INGRESS (IPv4) differs');
        expect(d.stderr).toMatch(
          /^palisade: the kernel of node-a differs from the desired state \(2 differences\)\n$/,
        );
        const j = JSON.parse((await cli('diff', '-o', 'json')).stdout);
        expect(j.inSync).toBe(false);
        expect(j.differences.map((x: { text: string }) => x.text).sort()).toEqual(
          [`chain ${podChain} (IPv4) missing`, 'chain PALISADE-INGRESS (IPv4) differs'].sort(),
        );
        const viaPlugin = await plugin('--node', NODE, 'diff');
        expect(viaPlugin.code).toBe(1);
        expect(viaPlugin.stdout).toContain(podChain);
        // Its address is still in the isolation set: the kernel path now ends at the dispatch
        // chain's own drop (through its verdict log point, the agent logs drops by default),
        // which explain follows (the kernel, not the model).
        const ex = await json('explain', '--from', 'y/c', '--to', 'x/b', '--port', '80');
        expect(ex.allowed).toBe(false);
        expect(ex.kernelAgrees).toBe(true);
        expect(ex.kernelPath.decidedBy).toMatchObject({
          chain: expect.stringMatching(/^PALISADE-L-/),
          spec: '-j DROP',
          note: 'palisade: isolated for ingress, no pod chain',
        });
        expect(await probe('y/c', 'x/b', 80, 800)).toBe('timeout');
        const status = await eventually(async () => {
          const s = await json('status');
          return s.applyErrors > 0 ? s : undefined;
        }, 'a failed repair');
        expect(status.lastError.error).toContain('line 2 failed');
      } finally {
        stub.set('fail', false);
      }
      await eventually(
        async () => (await cli('diff')).code === 0,
        'the agent to repair the kernel',
        60_000,
        200,
      );
      expect(await cli('diff')).toEqual({ code: 0, stdout: '', stderr: '' });
      expect(await probe('y/c', 'x/b', 80, 800)).toBe('timeout');
      const s = await json('status');
      expect(s.consecutiveFailures).toBe(0);
    });
  });
});
