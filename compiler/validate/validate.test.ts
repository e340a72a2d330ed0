/**
 * Every invalid-input class of the scenario format, each with the exact message the loader
 * prints. The objects are minimal valid ones with one tweak each.
 */
import { loadScenario } from '../scenario';

const POD = (extra = '') => `apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x}
spec:
  containers: [{name: c, image: busybox${extra}}]
`;

function policy(spec: string): string {
  return `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
${spec
  .trim()
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
`;
}

function errorsOf(text: string): readonly string[] {
  const r = loadScenario(text, 'bad.yaml');
  if (r.ok) throw new Error('expected the scenario to be rejected');
  return r.errors;
}

/** [what, scenario text, exact expected errors] */
const CASES: [string, string, string[]][] = [
  [
    'except outside cidr',
    policy(`
podSelector: {}
ingress:
- from:
  - ipBlock: {cidr: 10.1.0.0/16, except: [10.0.0.0/8]}`),
    [
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.ingress[0].from[0].ipBlock.except[0]: "10.0.0.0/8" is not within cidr "10.1.0.0/16" (line 8)',
    ],
  ],
  [
    'except equal to cidr',
    policy(`
podSelector: {}
egress:
- to:
  - ipBlock:
      cidr: 10.0.0.0/8
      except: [10.0.0.0/8]`),
    [
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.egress[0].to[0].ipBlock.except[0]: "10.0.0.0/8" is not strictly within cidr "10.0.0.0/8": an except must be smaller than cidr (line 10)',
    ],
  ],
  [
    'except of the other family',
    policy(`
podSelector: {}
egress:
- to:
  - ipBlock: {cidr: 10.0.0.0/8, except: ["fd00::/64"]}`),
    [
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.egress[0].to[0].ipBlock.except[0]: "fd00::/64" is not within cidr "10.0.0.0/8" (different IP family) (line 8)',
    ],
  ],
  [
    'malformed cidr and except',
    policy(`
podSelector: {}
egress:
- to:
  - ipBlock: {cidr: 10.0.0.0/33, except: [10.0.0.1]}`),
    [
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.egress[0].to[0].ipBlock.cidr: "10.0.0.0/33": must be a valid CIDR (e.g. 10.0.0.0/8 or fd00::/64) (line 8)',
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.egress[0].to[0].ipBlock.except[0]: "10.0.0.1": must be a valid CIDR (e.g. 10.0.0.0/8 or fd00::/64) (line 8)',
    ],
  ],
  [
    'ipBlock without cidr',
    policy(`
podSelector: {}
egress:
- to:
  - ipBlock: {}`),
    ['bad.yaml: document 1 (NetworkPolicy x/p): spec.egress[0].to[0].ipBlock.cidr: required value (line 8)'],
  ],
  [
    'endPort without port, with a named port, below port, out of range',
    policy(`
podSelector: {}
ingress:
- ports:
  - {endPort: 90}
  - {port: http, endPort: 90}
  - {port: 90, endPort: 80}
  - {port: 1, endPort: 70000}`),
    [
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.ingress[0].ports[0].endPort: may not be specified when `port` is not specified (line 8)',
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.ingress[0].ports[1].endPort: may not be specified when `port` is non-numeric (line 9)',
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.ingress[0].ports[2].endPort: 80: must be greater than or equal to `port` (90) (line 10)',
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.ingress[0].ports[3].endPort: 70000: must be between 1 and 65535, inclusive (line 11)',
    ],
  ],
  [
    'port out of range',
    policy(`
podSelector: {}
ingress:
- ports: [{port: 0}, {port: 65536}]`),
    [
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.ingress[0].ports[0].port: 0: must be between 1 and 65535, inclusive (line 7)',
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.ingress[0].ports[1].port: 65536: must be between 1 and 65535, inclusive (line 7)',
    ],
  ],
  [
    'named ports that are not IANA service names',
    policy(`
podSelector: {}
ingress:
- ports: [{port: Http}, {port: "80"}, {port: web--x}, {port: -web}, {port: averyveryverylongname}]`),
    [
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.ingress[0].ports[0].port: "Http": must contain only lower-case alphanumeric characters (a-z, 0-9) and hyphens (-) (line 7)',
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.ingress[0].ports[1].port: "80": must contain at least one letter (a-z) (line 7)',
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.ingress[0].ports[2].port: "web--x": must not contain consecutive hyphens (line 7)',
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.ingress[0].ports[3].port: "-web": must not begin or end with a hyphen (line 7)',
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.ingress[0].ports[4].port: "averyveryverylongname": must be no more than 15 characters (line 7)',
    ],
  ],
  [
    'protocol',
    policy(`
podSelector: {}
ingress:
- ports: [{protocol: ICMP}, {protocol: tcp}]`),
    [
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.ingress[0].ports[0].protocol: unsupported value "ICMP": supported values: "TCP", "UDP", "SCTP" (line 7)',
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.ingress[0].ports[1].protocol: unsupported value "tcp": supported values: "TCP", "UDP", "SCTP" (line 7)',
    ],
  ],
  [
    'empty peer, ipBlock with a selector',
    policy(`
podSelector: {}
ingress:
- from:
  - {}
  - ipBlock: {cidr: 10.0.0.0/8}
    podSelector: {}`),
    [
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.ingress[0].from[0]: must specify a peer (podSelector, namespaceSelector or ipBlock) (line 8)',
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.ingress[0].from[1]: may not specify both ipBlock and another peer (line 9)',
    ],
  ],
  [
    'policyTypes',
    policy(`
podSelector: {}
policyTypes: [Ingress, Egress, Ingress]`),
    [
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.policyTypes: may not specify more than two policyTypes (line 6)',
    ],
  ],
  [
    'policyTypes value',
    policy(`
podSelector: {}
policyTypes: [ingress]`),
    [
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.policyTypes[0]: unsupported value "ingress": supported values: "Ingress", "Egress" (line 6)',
    ],
  ],
  [
    'selector operators and values',
    policy(`
podSelector:
  matchExpressions:
  - {key: app, operator: In}
  - {key: app, operator: Exists, values: [a]}
  - {key: app, operator: Equals, values: [a]}
  - {operator: Exists}`),
    [
      "bad.yaml: document 1 (NetworkPolicy x/p): spec.podSelector.matchExpressions[0].values: must be specified when `operator` is 'In' (line 7)",
      "bad.yaml: document 1 (NetworkPolicy x/p): spec.podSelector.matchExpressions[1].values: may not be specified when `operator` is 'Exists' (line 8)",
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.podSelector.matchExpressions[2].operator: unsupported value "Equals": supported values: "In", "NotIn", "Exists", "DoesNotExist" (line 9)',
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.podSelector.matchExpressions[3].key: required value (line 10)',
    ],
  ],
  [
    'label keys and values in selectors',
    policy(`
podSelector:
  matchLabels: {"-bad": ok, good: "bad value"}`),
    [
      `bad.yaml: document 1 (NetworkPolicy x/p): spec.podSelector.matchLabels.-bad: key "-bad": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName' or 'my.name' or '123-abc') (line 6)`,
      `bad.yaml: document 1 (NetworkPolicy x/p): spec.podSelector.matchLabels.good: value "bad value": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue' or 'my_value' or '12345') (line 6)`,
    ],
  ],
  [
    'unknown field (a typo that would otherwise change the meaning)',
    policy(`
podSelector: {}
ingres:
- {}`),
    ['bad.yaml: document 1 (NetworkPolicy x/p): spec.ingres: unknown field (line 6)'],
  ],
  [
    'missing podSelector',
    policy(`
policyTypes: [Ingress]`),
    [
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.podSelector: required value (use {} to select every pod in the namespace) (line 5)',
    ],
  ],
  [
    'wrong types',
    policy(`
podSelector: []
ingress: {}`),
    [
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.podSelector: must be an object, not a list (line 5)',
      'bad.yaml: document 1 (NetworkPolicy x/p): spec.ingress: must be a list, not an object (line 6)',
    ],
  ],
  [
    'unknown kind and wrong apiVersion',
    `apiVersion: v1
kind: Service
metadata: {name: s}
---
apiVersion: extensions/v1beta1
kind: NetworkPolicy
metadata: {name: p}
spec: {podSelector: {}}
`,
    [
      'bad.yaml: document 1 (Service): kind: unsupported kind "Service": a scenario holds v1 Namespace, Pod and Node, networking.k8s.io/v1 NetworkPolicy and policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicy objects (line 2)',
      'bad.yaml: document 2 (NetworkPolicy default/p): apiVersion: "extensions/v1beta1" does not serve NetworkPolicy: use apiVersion: networking.k8s.io/v1 (line 5)',
    ],
  ],
  [
    'missing apiVersion and kind',
    `metadata: {name: s}\n`,
    [
      'bad.yaml: document 1 (object without kind): apiVersion: required value (line 1)',
      'bad.yaml: document 1 (object without kind): kind: required value (line 1)',
    ],
  ],
  [
    'object names',
    `apiVersion: v1
kind: Namespace
metadata: {name: My_NS}
---
apiVersion: v1
kind: Pod
metadata: {name: Bad.Pod, namespace: x}
spec: {containers: [{name: c, image: i}]}
`,
    [
      `bad.yaml: document 1 (Namespace My_NS): metadata.name: "My_NS": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name' or '123-abc') (line 3)`,
      `bad.yaml: document 2 (Pod x/Bad.Pod): metadata.name: "Bad.Pod": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com') (line 7)`,
    ],
  ],
  [
    'missing name',
    `apiVersion: v1\nkind: Pod\nmetadata: {namespace: x}\nspec: {containers: [{name: c, image: i}]}\n`,
    ['bad.yaml: document 1 (Pod x/<no name>): metadata.name: required value (line 3)'],
  ],
  [
    'pod labels',
    `apiVersion: v1\nkind: Pod\nmetadata: {name: a, labels: {app: "x y"}}\nspec: {containers: [{name: c, image: i}]}\n`,
    [
      `bad.yaml: document 1 (Pod default/a): metadata.labels.app: value "x y": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue' or 'my_value' or '12345') (line 3)`,
    ],
  ],
  [
    'container port names and numbers',
    POD(
      ', ports: [{name: HTTP, containerPort: 80}, {name: http, containerPort: 0}, {name: http, containerPort: 81, protocol: icmp}]',
    ),
    [
      'bad.yaml: document 1 (Pod x/a): spec.containers[0].ports[0].name: "HTTP": must contain only lower-case alphanumeric characters (a-z, 0-9) and hyphens (-) (line 5)',
      'bad.yaml: document 1 (Pod x/a): spec.containers[0].ports[0].name: "HTTP": must contain at least one letter (a-z) (line 5)',
      'bad.yaml: document 1 (Pod x/a): spec.containers[0].ports[1].containerPort: 0: must be between 1 and 65535, inclusive (line 5)',
      'bad.yaml: document 1 (Pod x/a): spec.containers[0].ports[2].protocol: unsupported value "icmp": supported values: "TCP", "UDP", "SCTP" (line 5)',
      'bad.yaml: document 1 (Pod x/a): spec.containers[0].ports[2].name: duplicate port name "http" (also at spec.containers[0].ports[1]) (line 5)',
    ],
  ],
  [
    'pod without containers, container without image',
    `apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: []}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec: {containers: [{name: c}]}\n`,
    [
      'bad.yaml: document 1 (Pod default/a): spec.containers: required value: a pod needs at least one container (line 4)',
      'bad.yaml: document 2 (Pod default/b): spec.containers[0].image: required value (line 9)',
    ],
  ],
  [
    'pod status addresses and phase',
    `${POD()}status:\n  phase: running\n  podIP: 10.0.0.300\n  podIPs: [{ip: 10.0.0.1}, {ip: 10.0.0.2}]\n`,
    [
      'bad.yaml: document 1 (Pod x/a): status.phase: unsupported value "running": supported values: "Pending", "Running", "Succeeded", "Failed", "Unknown" (line 7)',
      'bad.yaml: document 1 (Pod x/a): status.podIP: "10.0.0.300": must be a valid IP address (line 8)',
      'bad.yaml: document 1 (Pod x/a): status.podIPs[1].ip: "10.0.0.2": may specify no more than one IP for each IP family (line 9)',
    ],
  ],
  [
    'duplicate objects',
    `${POD()}---\n${POD()}`,
    ['bad.yaml: document 2 (Pod x/a): duplicate Pod x/a (first defined in document 1)'],
  ],
  [
    'two pods declaring one address',
    `${POD()}status: {podIP: 10.0.0.1}\n---\n${POD().replace('name: a', 'name: b')}status: {podIP: 10.0.0.1}\n`,
    ['bad.yaml: document 2 (Pod x/b): status.podIPs: address 10.0.0.1 is already used by pod x/a (line 13)'],
  ],
  [
    'invalid YAML',
    `apiVersion: v1\nkind: [\n`,
    [
      'bad.yaml: document 1: invalid YAML at line 3: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ],
  ],
  [
    'duplicate YAML keys',
    `apiVersion: v1\nkind: Namespace\nkind: Namespace\nmetadata: {name: x}\n`,
    ['bad.yaml: document 1: invalid YAML at line 3: Map keys must be unique'],
  ],
];

describe('every invalid input is reported with file, document, object, field path and line', () => {
  test.each(CASES)('%s', (_what, text, expected) => {
    expect(errorsOf(text)).toEqual(expected);
  });
});

test('all errors of a file are reported, not just the first', () => {
  const text = `${policy('podSelector: {}\npolicyTypes: [Foo]')}---\n${POD(', ports: [{containerPort: 99999}]')}`;
  const errs = errorsOf(text);
  expect(errs).toHaveLength(2);
  expect(errs[0]).toContain('document 1 (NetworkPolicy x/p): spec.policyTypes[0]');
  expect(errs[1]).toContain('document 2 (Pod x/a): spec.containers[0].ports[0].containerPort: 99999');
});

test('podSelector with no value (null) selects every pod, as the API server decodes it', () => {
  const text = `${policy('podSelector:\npolicyTypes: [Ingress]')}---\n${POD()}`;
  const r = loadScenario(text, 'ok.yaml');
  if (!r.ok) throw new Error(r.errors.join('\n'));
  expect(r.scenario.policies[0].spec.podSelector).toEqual({});
});

test('valid edge cases are accepted', () => {
  const text = `${policy(`
podSelector: {}
policyTypes: [Ingress, Egress]
ingress:
- {}
- from: []
  ports: []
egress:
- to:
  - ipBlock: {cidr: "fd00::/48", except: ["fd00::/64", "fd00:0:0:1::/64"]}
  - ipBlock: {cidr: 10.1.2.3/8, except: [10.1.0.0/16]}
  - namespaceSelector: {}
    podSelector: {matchExpressions: [{key: example.com/tier, operator: NotIn, values: [a, ""]}]}
  ports:
  - {port: 30000, endPort: 32767}
  - {port: dns-tcp, protocol: SCTP}
  - {protocol: UDP}
`)}`;
  const r = loadScenario(text, 'ok.yaml');
  expect(r.ok ? [] : r.errors).toEqual([]);
});
