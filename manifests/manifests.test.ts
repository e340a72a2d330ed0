/**
 * The deployment manifests as the cluster would receive them: rendered by kustomize (kubectl),
 * checked against the Kubernetes OpenAPI schema, and held to Palisade's security promises:
 * not privileged, exactly NET_ADMIN + NET_RAW, read-only RBAC on exactly three resources,
 * host network, probes and metrics on the one declared port, flags the agent understands.
 */
import type {
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1Container,
  V1DaemonSet,
  V1Namespace,
  V1PodSpec,
  V1Service,
} from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import type { Command } from 'commander';
import { buildProgram } from '../agent/cli/program';
import { CONFIG_OPTIONS, parseConfig, parseHostPort, type RawConfig } from '../agent/daemon/config';
import { containerArgv, resolveEnv } from './testutil/container';
import { openApiProblems, schemaProblems, unknownFieldProblems } from './testutil/openapi';
import { findObject, kustomize, type K8sObject } from './testutil/render';

const NAMESPACE = 'palisade-system';
const AGENT_LABELS = { 'app.kubernetes.io/name': 'palisade', 'app.kubernetes.io/component': 'agent' };

const objects = kustomize('manifests');
const cleanupObjects = kustomize('manifests/cleanup');
const daemonSet = findObject(objects, 'DaemonSet', 'palisade') as unknown as V1DaemonSet;
const podSpec = daemonSet.spec?.template.spec as V1PodSpec;
const agent = podSpec.containers.find((c) => c.name === 'agent') as V1Container;
const cleanupDaemonSet = findObject(
  cleanupObjects,
  'DaemonSet',
  'palisade-cleanup',
) as unknown as V1DaemonSet;
const cleanupPodSpec = cleanupDaemonSet.spec?.template.spec as V1PodSpec;

/** The agent's settings by flag: '--metrics-address' -> its row in the agent's config table. */
const AGENT_FLAGS = new Map(CONFIG_OPTIONS.map((o) => [o.flag.split(' ')[0], o]));

/** The long flags a `palisade` subcommand accepts, read from the real CLI definition. */
function flagsOf(command: string): string[] {
  const silent = { stdout: () => {}, stderr: () => {}, isTTY: false, env: {}, readFile: () => '' };
  const cmd = buildProgram(silent).commands.find((c: Command) => c.name() === command);
  if (!cmd) throw new Error(`palisade has no ${command} command`);
  return cmd.options.map((o) => o.long ?? '').filter(Boolean);
}

/** The flag names of '--name=value' args. */
function flagNames(args: readonly string[]): string[] {
  return args.map((a) => a.split('=')[0]);
}

/** '--name=value' args -> RawConfig for the agent's own parser; unknown flags are reported. */
function rawConfigOf(args: readonly string[]): { raw: RawConfig; unknown: string[] } {
  const raw: RawConfig = {};
  const unknown: string[] = [];
  for (const arg of args) {
    const m = /^(--[a-z-]+)=(.*)$/.exec(arg);
    const option = m ? AGENT_FLAGS.get(m[1]) : undefined;
    if (!m || !option) unknown.push(arg);
    else raw[option.key] = m[2];
  }
  return { raw, unknown };
}

function argValue(container: V1Container, flag: string): string | undefined {
  const prefix = `${flag}=`;
  return container.args?.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

describe('rendered manifests', () => {
  test('contain exactly the objects of a Palisade install, namespaced where they should be', () => {
    const ids = objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`).sort();
    expect(ids).toEqual([
      'ClusterRole//palisade',
      'ClusterRoleBinding//palisade',
      `DaemonSet/${NAMESPACE}/palisade`,
      'Namespace//palisade-system',
      `Service/${NAMESPACE}/palisade-metrics`,
      `ServiceAccount/${NAMESPACE}/palisade`,
    ]);
  });

  test.each([...objects, ...cleanupObjects].map((o) => [`${o.kind}/${o.metadata.name}`, o] as const))(
    '%s is valid against the Kubernetes OpenAPI schema, with no unknown fields',
    async (_name, obj) => {
      expect(await openApiProblems(obj)).toEqual([]);
    },
  );

  test('every object carries app.kubernetes.io/name=palisade, so one selector finds them all', () => {
    for (const o of [...objects, ...cleanupObjects]) {
      expect(`${o.kind}/${o.metadata.name} ${o.metadata.labels?.['app.kubernetes.io/name']}`).toBe(
        `${o.kind}/${o.metadata.name} palisade`,
      );
    }
  });

  test('the namespace admits the agent under Pod Security (privileged profile)', () => {
    const ns = findObject(objects, 'Namespace', NAMESPACE) as unknown as V1Namespace;
    expect(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('privileged');
  });
});

describe('the schema check itself', () => {
  const broken = (mutate: (ds: V1DaemonSet) => void): K8sObject => {
    const copy = structuredClone(daemonSet);
    mutate(copy);
    return copy as unknown as K8sObject;
  };

  test('reports a misspelt field that a lenient validator would drop', async () => {
    const obj = broken((ds) => {
      const c = ds.spec?.template.spec?.containers[0] as unknown as Record<string, unknown>;
      c.livenesProbe = c.livenessProbe;
    });
    expect(await unknownFieldProblems(obj)).toEqual([
      expect.stringMatching(/containers\[0\]\.livenesProbe: unknown field/),
    ]);
  });

  test('reports a value of the wrong type', async () => {
    const obj = broken((ds) => {
      (ds.spec?.template.spec?.containers[0].ports?.[0] as unknown as Record<string, unknown>).containerPort =
        '9101';
    });
    expect(await schemaProblems(obj)).not.toEqual([]);
    expect(await unknownFieldProblems(obj)).toEqual([
      expect.stringMatching(/containerPort: expected number/),
    ]);
  });

  test('reports a missing required field', async () => {
    const obj = broken((ds) => {
      delete (ds.spec?.template.spec?.containers[0] as unknown as Record<string, unknown>).name;
    });
    expect((await schemaProblems(obj)).join('\n')).toMatch(/name/);
  });
});

describe('RBAC', () => {
  const role = findObject(objects, 'ClusterRole', 'palisade') as unknown as V1ClusterRole;
  const binding = findObject(objects, 'ClusterRoleBinding', 'palisade') as unknown as V1ClusterRoleBinding;

  test('grants exactly get/list/watch on pods, namespaces, nodes, networkpolicies and clusternetworkpolicies', () => {
    const grants = (role.rules ?? [])
      .flatMap((r) =>
        (r.apiGroups ?? []).flatMap((g) =>
          (r.resources ?? []).map((res) => `${g || 'core'}/${res}: ${[...(r.verbs ?? [])].sort().join(',')}`),
        ),
      )
      .sort();
    expect(grants).toEqual([
      'core/namespaces: get,list,watch',
      'core/nodes: get,list,watch',
      'core/pods: get,list,watch',
      'networking.k8s.io/networkpolicies: get,list,watch',
      'policy.networking.k8s.io/clusternetworkpolicies: get,list,watch',
    ]);
    for (const rule of role.rules ?? []) {
      expect(rule.resourceNames).toBeUndefined();
      expect(rule.nonResourceURLs).toBeUndefined();
    }
    expect(role.aggregationRule).toBeUndefined();
  });

  test('binds that role to the service account the DaemonSet runs as, and only to it', () => {
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'palisade',
    });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'palisade', namespace: NAMESPACE }]);
    expect(podSpec.serviceAccountName).toBe('palisade');
    findObject(objects, 'ServiceAccount', 'palisade');
  });

  test('the cleanup DaemonSet gets no API credentials at all', () => {
    expect(cleanupPodSpec.automountServiceAccountToken).toBe(false);
    expect(cleanupPodSpec.serviceAccountName).toBeUndefined();
  });
});

describe.each([
  ['agent DaemonSet', podSpec],
  ['cleanup DaemonSet', cleanupPodSpec],
])('%s security', (_name, spec) => {
  const all = [...(spec.initContainers ?? []), ...spec.containers];
  const kernelContainers = all.filter((c) => (c.securityContext?.capabilities?.add ?? []).length > 0);

  test('no container is privileged or may escalate privileges', () => {
    for (const c of all) {
      expect(c.securityContext?.privileged).toBe(false);
      expect(c.securityContext?.allowPrivilegeEscalation).toBe(false);
    }
  });

  test('the containers that touch the kernel add exactly NET_ADMIN and NET_RAW and drop everything else', () => {
    expect(kernelContainers.length).toBe(1);
    for (const c of all) {
      const caps = c.securityContext?.capabilities;
      expect(caps?.drop).toEqual(['ALL']);
      if (kernelContainers.includes(c))
        expect([...(caps?.add ?? [])].sort()).toEqual(['NET_ADMIN', 'NET_RAW']);
      else expect(caps?.add).toBeUndefined();
    }
  });

  test('no host PID or IPC namespace; host network only', () => {
    expect(spec.hostNetwork).toBe(true);
    expect(spec.hostPID).toBeFalsy();
    expect(spec.hostIPC).toBeFalsy();
  });

  test('read-only root file system and the runtime seccomp profile', () => {
    for (const c of all) {
      expect(c.securityContext?.readOnlyRootFilesystem).toBe(true);
      expect(c.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
    }
  });

  test('host paths are only the xtables lock (file) and /run/palisade (directory), mounted where they are on the host', () => {
    const hostPaths = (spec.volumes ?? []).filter((v) => v.hostPath);
    expect(hostPaths.map((v) => [v.hostPath?.path, v.hostPath?.type]).sort()).toEqual([
      ['/run/palisade', 'DirectoryOrCreate'],
      ['/run/xtables.lock', 'FileOrCreate'],
    ]);
    for (const c of kernelContainers) {
      for (const v of hostPaths) {
        const mount = c.volumeMounts?.find((m) => m.name === v.name);
        expect(mount?.mountPath).toBe(v.hostPath?.path);
        expect(mount?.readOnly).toBeFalsy();
      }
    }
  });

  test('runs on every node: tolerates every taint, node-critical priority', () => {
    expect(spec.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(spec.priorityClassName).toBe('system-node-critical');
    expect(spec.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
  });

  test('every container has CPU and memory requests and limits, requests within limits', () => {
    for (const c of all) {
      const { requests, limits } = c.resources ?? {};
      for (const r of ['cpu', 'memory']) {
        expect(requests?.[r]).toBeDefined();
        expect(limits?.[r]).toBeDefined();
        expect(quantity(String(requests?.[r]))).toBeLessThanOrEqual(quantity(String(limits?.[r])));
      }
    }
  });
});

describe('agent DaemonSet', () => {
  test('is the image kustomize was told to use', () => {
    expect(agent.image).toBe('palisade:dev');
    expect(agent.imagePullPolicy).toBe('IfNotPresent');
  });

  test('rolls one node at a time', () => {
    expect(daemonSet.spec?.updateStrategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxUnavailable: 1 },
    });
  });

  test('selects its own pods and nothing else', () => {
    expect(daemonSet.spec?.selector.matchLabels).toEqual(AGENT_LABELS);
    expect(daemonSet.spec?.template.metadata?.labels).toMatchObject(AGENT_LABELS);
  });

  test('gets NODE_NAME from the downward API and passes it as --node-name', () => {
    expect(agent.env?.find((e) => e.name === 'NODE_NAME')?.valueFrom).toEqual({
      fieldRef: { fieldPath: 'spec.nodeName' },
    });
    expect(argValue(agent, '--node-name')).toBe('$(NODE_NAME)');
  });

  test('passes only flags `palisade agent` defines, with values its own config parser accepts', () => {
    expect(flagNames(agent.args ?? []).filter((f) => !flagsOf('agent').includes(f))).toEqual([]);
    const env = resolveEnv(agent, { 'spec.nodeName': 'worker-1' });
    const argv = containerArgv(agent, env);
    const args = argv.slice(argv.indexOf('agent') + 1);
    const { raw, unknown } = rawConfigOf(args);
    expect(unknown).toEqual([]);
    const { config, problems } = parseConfig(raw);
    expect(problems).toEqual([]);
    expect(config.nodeName).toBe('worker-1');
    expect(config.kubeconfig).toBeUndefined(); // in-cluster service account
  });

  test('sets agent settings by flag only; the one agent variable in env is NODE_NAME, for --node-name', () => {
    const agentEnvNames = new Set(CONFIG_OPTIONS.map((o) => o.env));
    expect((agent.env ?? []).map((e) => e.name).filter((n) => agentEnvNames.has(n))).toEqual(['NODE_NAME']);
  });

  test('serves probes and metrics on the declared port, the one --metrics-address binds', () => {
    const port = agent.ports?.find((p) => p.name === 'metrics');
    expect(port?.protocol).toBe('TCP');
    const address = parseHostPort(argValue(agent, '--metrics-address') ?? '');
    expect(address).toEqual({ host: '0.0.0.0', port: port?.containerPort });
    expect(agent.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(agent.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(agent.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
  });

  test('keeps the debug socket inside the /run/palisade host mount', () => {
    const socket = argValue(agent, '--debug-socket') ?? '';
    const mount = agent.volumeMounts?.find((m) => m.mountPath === '/run/palisade');
    expect(mount).toBeDefined();
    expect(socket.startsWith(`${mount?.mountPath}/`)).toBe(true);
  });

  test('is scraped through a headless Service and pod annotations, both naming the metrics port', () => {
    const service = findObject(objects, 'Service', 'palisade-metrics') as unknown as V1Service;
    const containerPort = agent.ports?.find((p) => p.name === 'metrics')?.containerPort;
    expect(service.spec?.clusterIP).toBe('None');
    expect(service.spec?.selector).toEqual(AGENT_LABELS);
    expect(service.spec?.ports).toEqual([
      { name: 'metrics', port: containerPort, targetPort: 'metrics', protocol: 'TCP' },
    ]);
    for (const annotations of [
      service.metadata?.annotations,
      daemonSet.spec?.template.metadata?.annotations,
    ]) {
      expect(annotations).toMatchObject({
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(containerPort),
        'prometheus.io/path': '/metrics',
      });
    }
  });
});

describe('cleanup DaemonSet', () => {
  const cleanup = cleanupPodSpec.initContainers?.find((c) => c.name === 'cleanup') as V1Container;

  test('runs `palisade cleanup` from the same script as the agent, with flags that command defines', () => {
    const agentScript = (agent.command ?? []).find((w) => w.endsWith('/dist/agent/cli/main.js'));
    expect(cleanup.command).toEqual(['node', agentScript, 'cleanup']);
    expect(flagNames(cleanup.args ?? []).filter((f) => !flagsOf('cleanup').includes(f))).toEqual([]);
    expect(cleanup.args).toEqual(['--iptables-mode=auto']); // every installed backend, not just one
  });

  test('uses the same image as the agent', () => {
    for (const c of [...(cleanupPodSpec.initContainers ?? []), ...cleanupPodSpec.containers]) {
      expect(c.image).toBe(agent.image);
    }
  });

  test('turns Ready only after its cleanup init container has run: the main container does nothing', () => {
    expect(cleanupPodSpec.containers.map((c) => c.command)).toEqual([
      ['/usr/bin/tini', '--', 'sleep', 'infinity'],
    ]);
    expect(cleanupPodSpec.containers[0].securityContext?.runAsNonRoot).toBe(true);
  });

  test('is not part of the main kustomization', () => {
    expect(objects.some((o) => o.metadata.name === 'palisade-cleanup')).toBe(false);
  });
});

/** Kubernetes quantity to a number (enough for the cpu/memory forms used here). */
function quantity(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|k|M|G)?$/.exec(q);
  if (!m) throw new Error(`unsupported quantity ${q}`);
  const scale: Record<string, number> = {
    '': 1,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    Ki: 1024,
    Mi: 1024 ** 2,
    Gi: 1024 ** 3,
  };
  return Number(m[1]) * scale[m[2] ?? ''];
}
