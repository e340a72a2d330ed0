/**
 * The operator commands (status, rules, explain, diff, chains, ipsets) in-process against a
 * whole agent, also in-process (live/testutil/in-process-agent.ts), once per backend: the real
 * test API server, client-node, compiler, dataplane and debug socket over an in-memory kernel
 * (FakeKernel for iptables, FakeNft for nftables; no root). The cluster and its known answers
 * are in live/testutil/scenario.ts; the answers that come from the model are the same on both
 * backends, those read from the kernel are each backend's own (iptables chains and ipsets; the
 * nftables table, its dispatch maps and sets, and its drift watch). operator.kernel.test.ts
 * repeats the essentials against a real agent process and the real kernel.
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FakeKernel } from '../../../dataplane/api';
import type { FakeNft } from '../../../dataplane/nftables/fake-nft';
import { get } from '../../daemon/testutil/http-client';
import { eventually } from '../../kube/testutil/eventually';
import type { StatusReport } from './status';
import { cli, clusterObjects, NODE } from '../live/testutil/scenario';
import {
  BACKENDS,
  startInProcessAgent,
  type Backend,
  type InProcessAgent,
} from '../live/testutil/in-process-agent';

jest.setTimeout(60_000);

/**
 * iptables: the periodic drift check every second (a chain deleted by hand is repaired by it).
 * nftables: the periodic check far away, so any repair is the drift watch's.
 */
const RESYNC: Record<Backend, string> = { iptables: '1s', nftables: '1h' };

describe.each(BACKENDS.map((b) => [b]))('%s backend', (backend) => {
  let a: InProcessAgent<Backend>;
  let socket: string;

  beforeAll(async () => {
    a = await startInProcessAgent({
      backend,
      prefix: `palisade-operator-${backend}-`,
      objects: clusterObjects(),
      resyncInterval: RESYNC[backend],
    });
    socket = a.socket;
  });

  afterAll(async () => {
    await a?.stop();
  });

  const live = (...args: string[]) => a.live(...args);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const json = <T = Record<string, any>>(...args: string[]) => a.json<T>(...args);
  /** The in-memory kernel of each backend (only one exists per run of this block). */
  const iptablesKernel = () => a.kernel as FakeKernel;
  const nft = () => a.kernel as FakeNft;
  const iptablesTest = (name: string, fn: () => Promise<void>) => {
    if (backend === 'iptables') test(name, fn);
  };
  const nftablesTest = (name: string, fn: () => Promise<void>) => {
    if (backend === 'nftables') test(name, fn);
  };

  describe('status', () => {
    test('JSON: synced, ready, and counts equal to the agent’s own', async () => {
      const s = await json<StatusReport>('status');
      expect(s).toMatchObject({
        agent: `socket ${socket}`,
        node: NODE,
        backend,
        synced: true,
        ready: true,
        healthy: true,
        syncMode: 'incremental',
        applyErrors: 0,
        consecutiveFailures: 0,
        lastError: null,
      });
      expect(s.counts).toMatchObject({
        localPods: 3, // x/a, x/b, y/c; y/r runs on node-b
        policies: 3,
        clusterPods: 4,
        clusterPolicies: 3,
        namespaces: 3, // x, y and the API server's own default
      });
      const own = a.agent.status() as { kernel: Record<string, number>; compiled: { peerSets: number } };
      expect(s.counts).toMatchObject({ ...own.kernel, peerSets: own.compiled.peerSets });
      // The kernel holds what was counted: the fake's chains and sets, ours only.
      if (backend === 'iptables') {
        const kernel = iptablesKernel();
        const chains = [
          ...kernel.tables.get(4)!.get('filter')!.keys(),
          ...kernel.tables.get(6)!.get('filter')!.keys(),
        ];
        expect(chains.filter((n) => n.startsWith('PALISADE-'))).toHaveLength(s.counts.chains);
        expect(kernel.ipsets.size).toBe(s.counts.ipsets);
      } else {
        expect(s.drift.watch).toMatchObject({ running: true, foreignChanges: 0 });
        expect(s.counts.chains).toBe(nft().table()!.chains.size);
        // Sets and the named objects of the verdict log (its limit and counters) count together.
        expect(s.counts.ipsets).toBe(nft().table()!.sets.size + nft().table()!.objects.size);
      }
      expect(s.lastApply).toMatchObject({ full: true, events: expect.any(Number) });
      expect(s.lastApply!.restoreBytes).toBeGreaterThan(0);
      expect(s.watches.map((w) => [w.resource, w.state, w.objects])).toEqual([
        ['namespaces', 'watching', 3],
        ['pods', 'watching', 4],
        ['networkpolicies', 'watching', 3],
        ['nodes', 'watching', 0],
        // The test API server starts without the ClusterNetworkPolicy CRD, as many clusters do.
        ['clusternetworkpolicies', 'absent', 0],
      ]);
      expect(s.clusterNetworkPolicyCrd).toBe('absent');
    });

    test('human: aligned, no colour off a terminal, colour on one', async () => {
      const r = await live('status');
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^Agent on node-a \(socket .*palisade\.sock\)$/m);
      expect(r.out).toMatch(/^ {2}State: +synced, ready, healthy$/m);
      expect(r.out).toMatch(/^ {2}local pods +3 {2}policy targets on node-a \(4 pods in the cluster\)$/m);
      expect(r.out).toMatch(/^ {2}Apply errors: {2}none \(\d+ appl(y|ies)\)$/m);
      expect(r.out).not.toContain('\u001b[');
      expect((await cli(['status', '--agent', socket], { tty: true })).out).toContain('\u001b[32msynced');
      if (backend === 'nftables') {
        expect(r.out).toMatch(/sync mode incremental, nftables \(table inet palisade\)/);
        expect(r.out).toMatch(/watching \(nft monitor\): 0 foreign changes seen/);
        expect(r.out).toMatch(/^ {2}elements +\d+ {2}in those sets and maps$/m);
      }
    });
  });

  describe('rules', () => {
    test('x/a: the policies per direction, peers resolved to pods, the named port, the kernel rules', async () => {
      const r = await json('rules', 'x/a');
      expect(r.node).toBe(NODE);
      expect(r.subject).toBe(true);
      expect(r.pod).toMatchObject({ key: 'x/a', node: NODE, ips: ['10.244.0.10'] });
      expect(r.egress).toEqual({ isolated: false, policies: [], admin: [], baseline: [] });
      expect(r.ingress.policies.map((p: { key: string }) => p.key)).toEqual(['x/allow-web', 'x/deny']);
      const [allow, deny] = r.ingress.policies;
      expect(deny.rules).toEqual([]);
      expect(allow.podSelector).toBe('app=web');
      expect(allow.rules).toHaveLength(1);
      const rule = allow.rules[0];
      expect(rule.text).toBe('from every pod in namespaces matching team=y, on named port http/TCP');
      expect(rule.peers).toHaveLength(1);
      expect(rule.peers[0]).toMatchObject({
        kind: 'pods',
        selects: 'every pod in namespaces matching team=y',
      });
      expect(rule.peers[0].members).toEqual([
        { address: '10.244.0.12', pod: 'y/c', node: NODE },
        { address: '10.244.0.20', pod: 'y/r', node: 'node-b' },
      ]);
      expect(rule.ports).toEqual([
        {
          protocol: 'TCP',
          text: 'named port http/TCP',
          name: 'http',
          resolved: [{ address: '10.244.0.10', port: 80, pod: 'x/a' }],
        },
      ]);
      // The kernel objects beneath: the pod's ingress chain, the two policy chains, the sets.
      const kinds = r.kernel.chains.map((c: { kind: string; owner: string }) => `${c.kind} ${c.owner}`);
      expect(kinds.sort()).toEqual(['pod x/a', 'policy x/allow-web', 'policy x/deny']);
      if (backend === 'iptables') {
        // One kernel rule per family the pod has: IPv4 here, in the policy's chain, present.
        expect(rule.kernel).toHaveLength(1);
        const k = rule.kernel[0];
        expect(k).toMatchObject({
          family: 4,
          rule: 1,
          state: 'in kernel',
          note: 'x/allow-web ingress rule 0',
        });
        expect(k.chain).toMatch(/^PALISADE-PI-/);
        expect(k.spec).toContain(
          `--match-set ${rule.peers[0].ipsets.find((s: { family: number }) => s.family === 4).name} src`,
        );
        expect(allow.chains).toEqual([{ family: 4, name: k.chain, state: 'in sync' }]);
        expect(r.kernel.dispatch).toEqual([
          expect.objectContaining({ chain: 'PALISADE-INGRESS', state: 'in kernel', note: 'pod x/a' }),
        ]);
        const sets = r.kernel.ipsets.map((s: { name: string; state: string }) => [s.name, s.state]);
        expect(sets).toContainEqual(['PALISADE-ISO-IN-4', 'in sync']);
        expect(r.kernel.ipsets.every((s: { family: number }) => s.family === 4)).toBe(true);
      } else {
        expect(r.backend).toBe('nftables');
        // The pod's dispatch is its element in the ingress map.
        expect(r.kernel.dispatch).toEqual([
          expect.objectContaining({
            chain: 'map ingress-4',
            spec: expect.stringMatching(/^10\.244\.0\.10 : jump pod-in4-a-/),
            state: 'in kernel',
          }),
        ]);
      }
    });

    test('human output names every piece', async () => {
      const r = await live('rules', 'x/a');
      expect(r.code).toBe(0);
      expect(r.out).toContain('Ingress: isolated by 2 policies');
      expect(r.out).toContain(
        '    rule 0: from every pod in namespaces matching team=y, on named port http/TCP',
      );
      expect(r.out).toMatch(/^ +y\/r +10\.244\.0\.20 +node node-b$/m);
      expect(r.out).toContain('port  named port http/TCP resolves to:');
      expect(r.out).toContain('80/TCP on x/a (this pod)');
      if (backend === 'iptables')
        expect(r.out).toMatch(
          /^ +kernel PALISADE-PI-\S+ #1 {2}-p tcp -m set --match-set PALISADE-P4-\S+ src -m set --match-set PALISADE-N4-\S+ dst,dst -g PALISADE-ALLOW$/m,
        );
      else
        expect(r.out).toContain('Kernel objects (IPv4, table inet palisade, as the kernel holds them now):');
      expect(r.out).toContain('    no ingress rules: it only isolates (denies every ingress)');
      expect(r.out).toContain('Egress: not isolated (no policy selects x/a for egress): all egress allowed.');
    });

    test('a pod of another node: one line naming the node to ask, exit 2', async () => {
      const r = await live('rules', 'y/r');
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toBe(
        'palisade: y/r runs on node node-b; the agent on node-a holds rules only for the pods of its own node: ask the agent on node-b (kubectl palisade --node node-b rules y/r)\n',
      );
    });

    test('an unknown pod and a malformed argument', async () => {
      const r = await live('rules', 'x/nope');
      expect(r).toMatchObject({ code: 2, out: '', err: 'palisade: no pod x/nope\n' });
      const m = await live('rules', 'nope');
      expect(m.code).toBe(2);
      expect(m.err).toContain('"nope" is not NAMESPACE/POD');
    });
  });

  describe('explain (live)', () => {
    test('allowed: the deciding policy rule per direction and the kernel rule that admits it', async () => {
      const r = await json('explain', '--from', 'y/c', '--to', 'x/a', '--port', '80/TCP');
      expect(r).toMatchObject({
        node: NODE,
        from: 'y/c',
        to: 'x/a',
        port: 80,
        protocol: 'TCP',
        allowed: true,
      });
      expect(r.decidedElsewhere).toEqual([]);
      expect(r.verdict.egress).toMatchObject({
        isolatingPolicies: ['y/egress'],
        allowedBy: [{ policy: 'y/egress', direction: 'egress', rule: 0 }],
      });
      expect(r.verdict.ingress).toMatchObject({
        isolatingPolicies: ['x/allow-web', 'x/deny'],
        allowedBy: [{ policy: 'x/allow-web', direction: 'ingress', rule: 0 }],
      });
      expect(r.explanation.headline).toBe('ALLOWED: y/c -> x/a on 80/TCP');
      const path = r.kernelPath;
      expect(path).toMatchObject({ family: 4, result: 'allowed' });
      expect(path.packet).toEqual({ src: '10.244.0.12', dst: '10.244.0.10', protocol: 'TCP', port: 80 });
      const notes = path.steps.map((s: { note: string }) => s.note);
      // Egress of y/c is decided first, then ingress of x/a; each by its policy chain's rule.
      expect(notes.indexOf('y/egress egress rule 0')).toBeGreaterThan(0);
      expect(notes.indexOf('x/allow-web ingress rule 0')).toBeGreaterThan(
        notes.indexOf('y/egress egress rule 0'),
      );
      expect(path.decidedBy).toMatchObject({ note: 'x/allow-web ingress rule 0' });
      if (backend === 'iptables') {
        expect(path).toMatchObject({ hook: 'FORWARD' });
        expect(path.decidedBy.chain).toMatch(/^PALISADE-PI-/);
        expect(path.decidedBy.sets).toEqual([
          expect.objectContaining({ element: '10.244.0.12', member: true }),
          expect.objectContaining({ element: '10.244.0.10,tcp:80', member: true }),
        ]);
      } else {
        // Through the table's IPv4 base chain.
        expect(path.steps[0].chain).toBe('forward-4');
        expect(path.decidedBy.chain).toMatch(/^np-in4-allow-web-/);
        expect(path.decidedBy.sets).toEqual([
          expect.objectContaining({ element: '10.244.0.12', member: true }),
          expect.objectContaining({ element: '10.244.0.10 . 80', member: true }),
        ]);
      }
      expect(r.kernelAgrees).toBe(true);
    });

    test('denied: the isolating policies, why each rule fails, and the DROP rule in the kernel', async () => {
      const r = await json('explain', '--from', 'y/c', '--to', 'x/b', '--port', '80');
      expect(r.allowed).toBe(false);
      expect(r.verdict.ingress).toMatchObject({
        isolatingPolicies: ['x/deny'],
        allowedBy: [],
        allowed: false,
      });
      expect(r.explanation.details[1]).toBe(
        'Ingress to x/b: isolated by x/deny; no rule allows y/c on 80/TCP → denied:\n  x/deny: no ingress rules (it only isolates)',
      );
      const last = r.kernelPath.steps.at(-1);
      expect(r.kernelPath.result).toBe('dropped');
      if (backend === 'iptables') {
        expect(last).toMatchObject({ spec: '-j DROP', note: 'pod x/b: no policy allows ingress' });
        expect(last.chain).toMatch(/^PALISADE-WI-b-/);
      } else {
        expect(last).toMatchObject({ spec: 'drop', note: 'pod x/b: no policy allows ingress' });
        expect(last.chain).toMatch(/^pod-in4-b-/);
      }
      expect(r.kernelPath.decidedBy).toEqual(last);
      expect(r.kernelAgrees).toBe(true);
      // The policy chain it came back from empty-handed is x/deny's: it has no rules to miss.
      expect(r.kernelPath.misses).toEqual([]);
    });

    test('denied on the port at both ends: each failing part, and the misses in the kernel', async () => {
      const r = await live('explain', '--from', 'y/c', '--to', 'x/a', '--port', '81');
      expect(r.code).toBe(0);
      expect(r.out).toContain('DENIED: y/c -> x/a on 81/TCP');
      expect(r.out).toContain(
        'Egress from y/c: isolated by y/egress; no rule allows x/a on 81/TCP → denied:\n  y/egress egress[0] (to every pod in namespaces matching team=x, on 80/TCP): port does not match: 81/TCP is not 80/TCP',
      );
      if (backend === 'iptables') {
        // The egress policy chain is entered and none of its rules matches; then the pod chain drops.
        expect(r.out).toMatch(
          /^ {4}PALISADE-PE-\S+ #1 +\(no match\) .*y\/egress egress rule 0; 10\.244\.0\.10 in PALISADE-P4-/m,
        );
        expect(r.out).toMatch(/^> PALISADE-WE-c-\S+ #\d+ +-j DROP +pod y\/c: no policy allows egress$/m);
        expect(r.out).toMatch(/=> dropped by PALISADE-WE-c-\S+ #\d+ \(pod y\/c: no policy allows egress\)$/m);
      }
    });

    test('the source on another node: its egress is decided there, and the answer says so', async () => {
      const r = await json('explain', '--from', 'y/r', '--to', 'x/a', '--port', '80');
      expect(r.allowed).toBe(true);
      expect(r.decidedElsewhere).toEqual([{ direction: 'egress', pod: 'y/r', node: 'node-b' }]);
      expect(r.explanation.headline).toBe(
        'ALLOWED: y/r -> x/a on 80/TCP (by node-a; the egress of y/r is decided on node-b)',
      );
      expect(r.explanation.details[0]).toContain(
        'Egress from y/r: decided on node-b, where y/r runs, not here: the agent on node-a holds rules only for its own node',
      );
      expect(r.kernelPath.result).toBe('allowed');
      const h = await live('explain', '--from', 'y/r', '--to', 'x/a', '--port', '80');
      expect(h.out).toContain(
        'For the other half: kubectl palisade --node node-b explain --from y/r --to x/a --port 80/TCP',
      );
    });

    iptablesTest(
      'the kernel path follows the kernel, not the model: a rule deleted by hand shows',
      async () => {
        // Take y/c out of the peer set that admits it; the model still allows.
        const allow = await json('rules', 'x/a');
        const set = allow.ingress.policies[0].rules[0].peers[0].ipsets.find(
          (s: { family: number }) => s.family === 4,
        ).name;
        const kernel = iptablesKernel();
        kernel.ipsets.get(set)!.members.delete('10.244.0.12');
        try {
          const r = await json('explain', '--from', 'y/c', '--to', 'x/a', '--port', '80');
          expect(r.allowed).toBe(true);
          expect(r.kernelPath.result).toBe('dropped');
          expect(r.kernelAgrees).toBe(false);
          const h = await live('explain', '--from', 'y/c', '--to', 'x/a', '--port', '80');
          expect(h.out).toContain(`10.244.0.12 not in ${set}`);
          expect(h.out).toContain("The kernel disagrees with the agent's model (allowed)");
        } finally {
          kernel.ipsets.get(set)!.members.set('10.244.0.12', false);
        }
      },
    );
  });

  describe('diff, chains, ipsets', () => {
    test('in sync: diff prints nothing and exits 0; JSON says so', async () => {
      await eventually(async () => (await live('diff')).code === 0, 'the kernel to match');
      expect(await live('diff')).toEqual({ code: 0, out: '', err: '' });
      const j = await json('diff');
      expect(j).toEqual({ node: NODE, inSync: true, differences: [] });
    });

    iptablesTest('chains: every own chain with its origin, and one chain rule by rule', async () => {
      const j = await json('chains', '--family', '4');
      const byName = new Map(j.chains.map((c: { name: string }) => [c.name, c]));
      expect(j.hooks).toEqual([
        { family: 4, builtin: 'FORWARD', target: 'PALISADE-FORWARD', position: 1, state: 'in sync' },
      ]);
      const owners = j.chains.filter((c: { kind: string }) => c.kind !== 'fixed' && c.kind !== 'dispatch');
      expect(
        owners
          .map(
            (c: { kind: string; owner: string; direction: string }) => `${c.kind} ${c.owner} ${c.direction}`,
          )
          .sort(),
      ).toEqual([
        'pod x/a ingress',
        'pod x/b ingress',
        'pod y/c egress',
        'policy x/allow-web ingress',
        'policy x/deny ingress',
        'policy y/egress egress',
      ]);
      expect(j.chains.every((c: { state: string }) => c.state === 'in sync')).toBe(true);
      const pe = j.chains.find((c: { owner: string }) => c.owner === 'y/egress');
      expect(byName.get(pe.name)).toBeDefined();
      const one = await live('chains', pe.name);
      expect(one.out).toMatch(
        new RegExp(`^chain ${pe.name} \\(IPv4, policy y/egress, egress\\): in sync$`, 'm'),
      );
      expect(one.out).toMatch(
        /^1 {2}-p tcp -m set --match-set PALISADE-P4-\S+ dst -m tcp --dport 80 -g PALISADE-ALLOW {2}y\/egress egress rule 0 {2}y\/egress$/m,
      );
      const filtered = await json('chains', '--policy', 'x/deny');
      // One chain: the pods x/deny selects are IPv4-only, so it has no IPv6 chain.
      expect(filtered.chains.map((c: { owner: string; family: number }) => `${c.owner} ${c.family}`)).toEqual(
        ['x/deny 4'],
      );
      expect((await live('chains', 'PALISADE-NOPE')).code).toBe(2);
    });

    iptablesTest('ipsets: what each holds and which policy uses it; one set member by member', async () => {
      const j = await json('ipsets', '--family', '4');
      const peers = j.ipsets.filter((s: { role: string }) => s.role === 'peer');
      const rows = peers.map(
        (s: { type: string; selects: string; policies: string[]; members: string[] }) => [
          s.type,
          s.selects,
          s.policies.join(','),
          s.members.join(' '),
        ],
      );
      expect(rows.sort()).toEqual(
        [
          ['hash:ip', 'every pod in namespaces matching team=y', 'x/allow-web', '10.244.0.12 10.244.0.20'],
          ['hash:ip', 'every pod in namespaces matching team=x', 'y/egress', '10.244.0.10 10.244.0.11'],
          ['hash:ip,port', 'pods declaring port http/TCP (local pods)', 'x/allow-web', '10.244.0.10,tcp:80'],
        ].sort(),
      );
      const iso = j.ipsets.find((s: { name: string }) => s.name === 'PALISADE-ISO-IN-4');
      expect(iso).toMatchObject({
        role: 'isolation',
        direction: 'ingress',
        members: ['10.244.0.10', '10.244.0.11'],
        state: 'in sync',
      });
      const yset = peers.find(
        (s: { policies: string[]; type: string }) =>
          s.policies.includes('x/allow-web') && s.type === 'hash:ip',
      );
      const one = await live('ipsets', yset.name);
      expect(one.out).toMatch(/^ {4}10\.244\.0\.20 {2}y\/r \(node-b\)$/m);
      const detail = await json('ipsets', yset.name);
      expect(detail.owners).toEqual({ '10.244.0.12': 'y/c (node-a)', '10.244.0.20': 'y/r (node-b)' });
    });

    nftablesTest('chains and ipsets read the table: its base chains, sets, maps and objects', async () => {
      const c = await json('chains', '--family', '4');
      const names = c.chains.map((x: { name: string }) => x.name);
      expect(names).toEqual(expect.arrayContaining(['forward-4', 'accepted-4']));
      // Base chains hook themselves: no jump from a built-in chain.
      expect(c.hooks).toEqual([]);
      const sets = await json('ipsets');
      const types = new Set(sets.ipsets.map((s: { type: string }) => s.type));
      expect(types).toEqual(
        new Set([
          'ipv4_addr',
          'ipv6_addr',
          'ipv4_addr . inet_service',
          'ipv6_addr . inet_service',
          'ipv4_addr : verdict',
          'ipv6_addr : verdict',
          // Fail closed for new pods: the node's pod ranges.
          'ipv4_addr interval',
          'ipv6_addr interval',
          // The verdict log's named objects.
          'counter',
          'limit rate 100/second burst 200 packets',
        ]),
      );
    });

    iptablesTest(
      'a chain deleted by hand: diff names it and exits 1; silent again after the repair',
      async () => {
        const rules = await json('rules', 'x/b');
        const podChain = rules.kernel.chains.find((c: { kind: string }) => c.kind === 'pod').name;
        const filter = iptablesKernel().tables.get(4)!.get('filter')!;
        const ingress = filter.get('PALISADE-INGRESS')!;
        ingress.rules = ingress.rules.filter((r) => !r.spec.includes(podChain));
        filter.delete(podChain);
        const r = await live('diff');
        expect(r.code).toBe(1);
        expect(r.err).toMatch(
          /^palisade: the kernel of node-a differs from the desired state \(\d differences?\)\n$/,
        );
        expect(r.out).toContain(`chain ${podChain} (IPv4) missing  [pod x/b, ingress]`);
        expect(r.out).toContain('chain PALISADE-INGRESS (IPv4) differs');
        expect(r.out).toMatch(/^ {8}-j DROP +pod x\/b: no policy allows ingress$/m);
        const j = await live('diff', '-o', 'json');
        expect(j.code).toBe(1);
        const doc = JSON.parse(j.out);
        expect(doc.inSync).toBe(false);
        const missing = doc.differences.find(
          (d: { object?: { name: string } }) => d.object?.name === podChain,
        );
        expect(missing).toMatchObject({ object: { type: 'chain', family: 4 }, origin: 'pod x/b, ingress' });
        expect(missing.missingRules.map((x: { note: string }) => x.note)).toContain('pod x/b: policy x/deny');
        // The agent's drift check (every second here) puts it back.
        await eventually(async () => (await live('diff')).code === 0, 'the drift repair', 15_000, 100);
        expect(await live('diff')).toEqual({ code: 0, out: '', err: '' });
        const s = await json<StatusReport>('status');
        expect(s.drift.repairs).toBeGreaterThanOrEqual(1);
        expect(s.drift.lastRepair?.differences.some((d) => d.includes(podChain))).toBe(true);
      },
    );

    nftablesTest('a foreign change is seen by the drift watch and repaired at once', async () => {
      const rules = await json('rules', 'x/b');
      const podChain = rules.kernel.chains.find((c: { kind: string }) => c.kind === 'pod').name;
      // Another process flushes x/b's chain.
      nft().foreign(`flush chain inet palisade ${podChain}`);
      await eventually(async () => (await live('diff')).code === 0, 'the drift repair', 15_000, 20);
      const s = await json<StatusReport>('status');
      expect(s.drift.watch).toMatchObject({
        foreignChanges: 1,
        last: { pid: 4242, events: [`flush chain inet palisade ${podChain}`] },
      });
      expect(s.drift.repairs).toBe(1);
      expect(s.drift.lastRepair?.differences).toEqual([`chain ${podChain} (inet) differs`]);
    });
  });

  describe('the debug endpoints behind the commands', () => {
    const debug = (path: string) => get({ socketPath: socket }, path);

    test('/v1/rules and /v1/explain reject bad queries with 400/404 and a message', async () => {
      for (const [path, status, message] of [
        ['/v1/rules', 400, 'missing ?pod='],
        ['/v1/rules?pod=nope', 400, 'is not namespace/pod'],
        ['/v1/rules?pod=x/nope', 404, 'no pod x/nope'],
        ['/v1/explain?from=y/c&to=x/a', 400, 'missing ?port='],
        ['/v1/explain?from=y/zz&to=x/a&port=80', 404, 'from: no pod y/zz'],
      ] as const) {
        const r = await debug(path);
        expect([path, r.status]).toEqual([path, status]);
        expect(r.json<{ error: string }>().error).toContain(message);
      }
    });

    test('/v1/explain keeps only the members that concern the two ends', async () => {
      const r = (await debug('/v1/explain?from=y/c&to=x/a&port=80')).json<{
        state: { peerSets: Record<string, { def: { kind: string }; members: string[] }> };
      }>();
      const members = Object.values(r.state.peerSets).map((p) => [p.def.kind, p.members]);
      // team=x pods are x/a and x/b, team=y pods y/c and y/r: only the ends' addresses remain.
      expect(members.sort()).toEqual(
        [
          ['namedPort', ['10.244.0.10,tcp:80']],
          ['pods', ['10.244.0.10']],
          ['pods', ['10.244.0.12']],
        ].sort(),
      );
    });

    test('--agent HOST:PORT: the same answers through a TCP relay in front of the socket', async () => {
      const open = new Set<Socket>();
      const relay = createServer((c) => {
        const upstream = connect(socket);
        open.add(c);
        c.on('close', () => open.delete(c));
        c.pipe(upstream).pipe(c);
        c.on('error', () => upstream.destroy());
        upstream.on('error', () => c.destroy());
      });
      await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
      try {
        const port = (relay.address() as AddressInfo).port;
        const r = await cli(['status', '-o', 'json', '--agent', `127.0.0.1:${port}`]);
        expect(r.code).toBe(0);
        expect(JSON.parse(r.out)).toMatchObject({ agent: `127.0.0.1:${port}`, node: NODE, ready: true });
      } finally {
        // close() waits for open connections: end the client's kept-alive one now.
        for (const c of open) c.destroy();
        await new Promise((resolve) => relay.close(resolve));
      }
    });
  });
});

describe('without an agent', () => {
  const missing = join(tmpdir(), `palisade-operator-test-${process.pid}-missing.sock`);

  test('offline explain is unchanged; --agent with a scenario is refused', async () => {
    const r = await cli(['explain', '/nonexistent.yaml', '--from', 'x/a', '--to', 'x/b', '--port', '80']);
    expect(r).toMatchObject({
      code: 2,
      err: 'palisade: cannot read scenario /nonexistent.yaml: no such file\n',
    });
    const a = await cli([
      'explain',
      '/x.yaml',
      '--from',
      'x/a',
      '--to',
      'x/b',
      '--port',
      '80',
      '--agent',
      missing,
    ]);
    expect(a.code).toBe(2);
    expect(a.err).toContain('--agent asks a running agent');
  });

  test.each([
    ['status'],
    ['rules', 'x/a'],
    ['explain', '--from', 'x/a', '--to', 'x/b', '--port', '80'],
    ['chains'],
    ['ipsets'],
  ])('%s: one line naming the socket and how to point elsewhere, exit 1', async (...args) => {
    const r = await cli([...args, '--agent', missing]);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toBe(
      `palisade: cannot reach the palisade agent at socket ${missing}: no such socket; is the agent running on this node? Point elsewhere with --agent SOCKET|HOST:PORT (or PALISADE_AGENT), or use \`kubectl palisade --node NODE ...\`\n`,
    );
  });

  test('diff exits 2 (could not compare), never 1 (different)', async () => {
    const r = await cli(['diff', '--agent', '127.0.0.1:1']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /^palisade: cannot reach the palisade agent at 127\.0\.0\.1:1: connection refused; /,
    );
  });

  test('every command has --help with examples', async () => {
    for (const c of ['status', 'rules', 'explain', 'diff', 'chains', 'ipsets']) {
      const r = await cli([c, '--help']);
      expect(r.code).toBe(0);
      expect(r.out).toContain('Examples:');
      expect(r.out).toContain('--agent <address>');
    }
  });
});
