/**
 * The deployment workflow's scripts, run for real against stand-ins for the tools they drive
 * (no Docker engine or cluster here): `make render` with a chosen image, the kind pod-network
 * script against fake docker/kind/kubectl that record what the nodes were told, and the
 * kubectl plugin against a fake kubectl. Plus the kind cluster configuration itself.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parse as parseYaml } from 'yaml';
import { parseObjects, REPO_ROOT, run } from './testutil/render';

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `argv` with `fakes` (name -> bash script) first on PATH. */
function runWithFakes(argv: string[], fakes: Record<string, string>, dir: string, input?: string): Ran {
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  for (const [name, script] of Object.entries(fakes)) {
    fs.writeFileSync(path.join(bin, name), `#!/usr/bin/env bash\n${script}`, { mode: 0o755 });
  }
  const r = spawnSync(argv[0], argv.slice(1), {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    input,
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, FAKE_DIR: dir },
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'palisade-workflow-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('deploy.mk', () => {
  test('`make render` pins every container of the agent and of the cleanup to IMAGE_REPO:IMAGE_TAG', () => {
    const renderDir = `.palisade-run/test-render-${process.pid}`;
    try {
      const render = (target: string): string =>
        run([
          'make',
          '-s',
          '-f',
          'manifests/deploy.mk',
          target,
          'IMAGE_REPO=registry.example:5000/team/palisade',
          'IMAGE_TAG=v1.2.3',
          `RENDER_DIR=${renderDir}`,
        ]);
      const images = [...parseObjects(render('render')), ...parseObjects(render('render-cleanup'))]
        .filter((o) => o.kind === 'DaemonSet')
        .flatMap((o) => {
          const spec = (
            o.spec as {
              template: { spec: { containers: { image: string }[]; initContainers?: { image: string }[] } };
            }
          ).template.spec;
          return [...(spec.initContainers ?? []), ...spec.containers].map((c) => c.image);
        });
      expect(images.length).toBe(3); // agent; cleanup init + idle container
      expect(new Set(images)).toEqual(new Set(['registry.example:5000/team/palisade:v1.2.3']));
    } finally {
      fs.rmSync(path.join(REPO_ROOT, renderDir), { recursive: true, force: true });
    }
  });

  test('every documented target is defined, alone and alongside the root Makefile', () => {
    const targets = ['image', 'kind-up', 'deploy', 'e2e-kind', 'undeploy', 'kind-down'];
    const rootIncludes = /^\s*-?include\s+manifests\/deploy\.mk/m.test(
      fs.readFileSync(path.join(REPO_ROOT, 'Makefile'), 'utf8'),
    );
    const withRoot = rootIncludes ? ['-f', 'Makefile'] : ['-f', 'Makefile', '-f', 'manifests/deploy.mk'];
    for (const files of [['-f', 'manifests/deploy.mk'], withRoot]) {
      const out = run([
        'make',
        '-n',
        ...files,
        ...targets,
        `RENDER_DIR=.palisade-run/test-dry-${process.pid}`,
      ]);
      expect(out).toMatch(/docker build -f manifests\/Dockerfile -t palisade:dev \./);
      expect(out).toMatch(/e2e\.test[\s\S]*--ginkgo\.focus='NetworkPolicy'/);
      // undeploy: agent gone (foreground cascade) before cleanup is applied, namespace last
      const order = [
        'delete daemonset/palisade --ignore-not-found',
        '--cascade=foreground',
        `apply -k .palisade-run/test-dry-${process.pid}/cleanup`,
        'rollout status daemonset/palisade-cleanup',
        'delete -k manifests/',
      ];
      const at = order.map((s) => out.indexOf(s));
      expect(at.every((i) => i >= 0)).toBe(true);
      expect([...at].sort((a, b) => a - b)).toEqual(at);
    }
    fs.rmSync(path.join(REPO_ROOT, `.palisade-run/test-dry-${process.pid}`), {
      recursive: true,
      force: true,
    });
  });
});

describe('kind cluster configuration', () => {
  const config = parseYaml(fs.readFileSync(path.join(REPO_ROOT, 'manifests/kind/cluster.yaml'), 'utf8')) as {
    kind: string;
    apiVersion: string;
    networking: Record<string, unknown>;
    nodes: { role: string }[];
  };

  test('installs no default CNI (kindnetd enforces NetworkPolicy since kind v0.24.0)', () => {
    expect(config.kind).toBe('Cluster');
    expect(config.apiVersion).toBe('kind.x-k8s.io/v1alpha4');
    expect(config.networking.disableDefaultCNI).toBe(true);
    expect(config.networking.podSubnet).toBe('10.244.0.0/16');
  });

  test('has workers for cross-node traffic', () => {
    expect(config.nodes.filter((n) => n.role === 'worker').length).toBeGreaterThanOrEqual(2);
  });
});

describe('install-ptp-cni.sh', () => {
  const nodes: Record<string, { cidr: string; ip: string }> = {
    'pal-control-plane': { cidr: '10.244.0.0/24', ip: '172.18.0.2' },
    'pal-worker': { cidr: '10.244.1.0/24', ip: '172.18.0.3' },
    'pal-worker2': { cidr: '10.244.2.0/24', ip: '172.18.0.4' },
  };
  const cases = (pick: (n: { cidr: string; ip: string }) => string): string =>
    Object.entries(nodes)
      .map(([name, n]) => `*" ${name} "*) printf '%s' '${pick(n)}' ;;`)
      .join('\n    ');
  const fakes = (missingPlugin = ''): Record<string, string> => ({
    kind: `[ "$*" = "get nodes --name pal" ] || { echo "kind: unexpected $*" >&2; exit 3; }\nprintf '%s\\n' ${Object.keys(nodes).join(' ')}\n`,
    kubectl: `args=" $* "
case "$args" in
  *" get configmap kubeadm-config "*) printf 'apiServer: {}\\nnetworking:\\n  dnsDomain: cluster.local\\n  podSubnet: 10.244.0.0/16\\n  serviceSubnet: 10.96.0.0/16\\n' ;;
  *"{.spec.podCIDR}"*) case "$args" in
    ${cases((n) => n.cidr)}
  esac ;;
  *InternalIP*) case "$args" in
    ${cases((n) => n.ip)}
  esac ;;
  *" wait "*) echo "$*" >> "$FAKE_DIR/kubectl.log" ;;
  *) echo "kubectl: unexpected $*" >&2; exit 3 ;;
esac
`,
    docker: `[ "$1" = exec ] || { echo "docker: unexpected $*" >&2; exit 3; }
shift
[ "$1" = -i ] && { stdin=1; shift; }
node=$1; shift
case "$*" in
  "test -x /opt/cni/bin/${missingPlugin || 'none'}") exit 1 ;;
  "test -x "*) exit 0 ;;
  "iptables -t nat -C "*) exit 1 ;;
esac
if [ -n "\${stdin:-}" ]; then cat > "$FAKE_DIR/$node.conflist"; else echo "$*" >> "$FAKE_DIR/$node.log"; fi
`,
  });
  const script = ['bash', 'manifests/kind/install-ptp-cni.sh', 'pal'];

  test('gives each node a ptp network on its podCIDR, routes to every other node, masquerade for egress only', () => {
    const r = runWithFakes(script, fakes(), tmp);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const [name, n] of Object.entries(nodes)) {
      const log = fs
        .readFileSync(path.join(tmp, `${name}.log`), 'utf8')
        .trim()
        .split('\n');
      const routes = log.filter((l) => l.startsWith('ip route replace')).sort();
      const expected = Object.entries(nodes)
        .filter(([peer]) => peer !== name)
        .map(([, p]) => `ip route replace ${p.cidr} via ${p.ip}`)
        .sort();
      expect(routes).toEqual(expected);
      expect(log).toContain('sysctl -qw net.ipv4.ip_forward=1');
      expect(log).toContain(
        'iptables -t nat -A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -m comment --comment kind pod network: masquerade pod egress -j MASQUERADE',
      );
      const conflist = JSON.parse(fs.readFileSync(path.join(tmp, `${name}.conflist`), 'utf8')) as {
        plugins: {
          type: string;
          ipMasq?: boolean;
          ipam?: { type: string; ranges: { subnet: string }[][] };
        }[];
      };
      expect(conflist.plugins.map((p) => p.type)).toEqual(['ptp', 'portmap']);
      expect(conflist.plugins[0].ipMasq).toBe(false); // pod-to-pod keeps its source address
      expect(conflist.plugins[0].ipam?.type).toBe('host-local');
      expect(conflist.plugins[0].ipam?.ranges).toEqual([[{ subnet: n.cidr }]]);
    }
    expect(fs.readFileSync(path.join(tmp, 'kubectl.log'), 'utf8')).toMatch(
      /wait --for=condition=Ready nodes --all/,
    );
  });

  test('stops before touching any node when a node image lacks a CNI plugin it needs', () => {
    const r = runWithFakes(script, fakes('ptp'), tmp);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/no \/opt\/cni\/bin\/ptp/);
    expect(fs.readdirSync(tmp).filter((f) => f.endsWith('.conflist') || f.endsWith('.log'))).toEqual([]);
  });
});

describe('kubectl-palisade plugin', () => {
  const kubectl = `args=" $* "
case "$args" in
  *" exec "*) echo "EXEC $*" ;;
  *" -n shop get pod cart "*) printf 'node-2' ;;
  *" -n shop get pod pending "*) printf '' ;;
  *"spec.nodeName="*) node=\${args##*spec.nodeName=}; node=\${node%% *}; [ "$node" = ghost ] || printf 'palisade-%s\\n' "$node" ;;
  *" get pods "*) printf 'palisade-a\\npalisade-b\\n' ;;
  *) echo "kubectl: unexpected $*" >&2; exit 3 ;;
esac
`;
  const plugin = (...args: string[]): Ran =>
    runWithFakes(['bash', 'manifests/kubectl-palisade', ...args], { kubectl }, tmp);
  const execOf = (out: string): string => out.trim().replace(/^EXEC /, '');

  test('--node runs the command in that node’s agent container', () => {
    const r = plugin('--node', 'node-1', 'status', '--json');
    expect(r.status).toBe(0);
    expect(execOf(r.stdout)).toBe(
      '-n palisade-system exec palisade-node-1 -c agent -- palisade status --json',
    );
  });

  test('COMMAND --node NODE: the flag may follow the command, and `--` ends flag parsing', () => {
    const r = plugin('explain', '--from', 'x/a', '--to', 'x/b', '--port', '80/TCP', '--node', 'node-1');
    expect(r.status).toBe(0);
    expect(execOf(r.stdout)).toBe(
      '-n palisade-system exec palisade-node-1 -c agent -- palisade explain --from x/a --to x/b --port 80/TCP',
    );
    const help = plugin('status', '--help', '--node=node-1');
    expect(execOf(help.stdout)).toBe(
      '-n palisade-system exec palisade-node-1 -c agent -- palisade status --help',
    );
    const literal = plugin('--node', 'node-1', 'rules', '--', '--node');
    expect(execOf(literal.stdout)).toBe(
      '-n palisade-system exec palisade-node-1 -c agent -- palisade rules --node',
    );
  });

  test('--pod finds the node that pod runs on', () => {
    const r = plugin('--pod=shop/cart', 'rules');
    expect(r.status).toBe(0);
    expect(execOf(r.stdout)).toBe('-n palisade-system exec palisade-node-2 -c agent -- palisade rules');
  });

  test('refuses to guess among several agents, and reports a node without one', () => {
    const several = plugin('status');
    expect(several.status).toBe(1);
    expect(several.stderr).toMatch(/2 agent pods .*--node/);
    const none = plugin('--node', 'ghost', 'status');
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/no palisade agent pod on node ghost/);
    const unscheduled = plugin('--pod', 'shop/pending', 'status');
    expect(unscheduled.status).toBe(1);
    expect(unscheduled.stderr).toMatch(/not scheduled/);
  });

  test('prints usage for no command or a malformed --pod', () => {
    expect(plugin().status).toBe(2);
    expect(plugin('--pod', 'cart', 'rules').status).toBe(2);
    expect(plugin('--help').stderr).toMatch(
      /kubectl palisade \[--node NODE \| --pod NAMESPACE\/POD\] COMMAND/,
    );
  });
});
