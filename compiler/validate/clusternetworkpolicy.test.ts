/**
 * ClusterNetworkPolicy and Node validation through the scenario loader: every schema rule and
 * every CEL rule of the experimental-channel CRD, each with the exact message and line the
 * loader prints; the upstream CRD test data (network-policy-api pkg/crdtest/testdata); and the
 * selector warnings for what the CRD accepts but client-go cannot read.
 */
import { loadScenario } from '../scenario';
import { isCIDR } from './clusternetworkpolicy';

/** A ClusterNetworkPolicy named p with this spec (indented under `spec:`, from line 5). */
function cnp(spec: string): string {
  return `apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: p}
spec:
${spec
  .trim()
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
`;
}

const HEAD = `tier: Admin\npriority: 10\nsubject: {namespaces: {}}`;

function errorsOf(text: string): readonly string[] {
  const r = loadScenario(text, 'bad.yaml');
  if (r.ok) throw new Error('expected the scenario to be rejected');
  return r.errors;
}

function loads(text: string): readonly string[] {
  const r = loadScenario(text, 'ok.yaml');
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.warnings;
}

const E = 'bad.yaml: document 1 (ClusterNetworkPolicy p): ';

/** [what, scenario text, exact expected errors] */
const CASES: [string, string, string[]][] = [
  [
    'spec missing',
    `apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {name: p}\n`,
    [`${E}spec: required value (line 1)`],
  ],
  [
    'required tier, priority and subject',
    cnp(`ingress: []`),
    [
      `${E}spec.tier: required value (line 5)`,
      `${E}spec.priority: required value (line 5)`,
      `${E}spec.subject: required value (line 5)`,
    ],
  ],
  [
    'tier enum, priority bounds and type',
    `${cnp(`tier: admin\npriority: 1001\nsubject: {namespaces: {}}`)}---\n${cnp(
      `tier: Baseline\npriority: -1\nsubject: {namespaces: {}}`,
    ).replace('name: p', 'name: q')}---\n${cnp(
      `tier: Admin\npriority: "5"\nsubject: {namespaces: {}}`,
    ).replace('name: p', 'name: r')}`,
    [
      `${E}spec.tier: unsupported value "admin": supported values: "Admin", "Baseline" (line 5)`,
      `${E}spec.priority: 1001: must be between 0 and 1000, inclusive (line 6)`,
      'bad.yaml: document 2 (ClusterNetworkPolicy q): spec.priority: -1: must be between 0 and 1000, inclusive (line 14)',
      'bad.yaml: document 3 (ClusterNetworkPolicy r): spec.priority: must be an integer, not a string ("5") (line 22)',
    ],
  ],
  [
    'subject: exactly one of namespaces, pods',
    `${cnp(`tier: Admin\npriority: 1\nsubject: {}`)}---\n${cnp(
      `tier: Admin\npriority: 1\nsubject:\n  namespaces: {}\n  pods: {podSelector: {}}`,
    ).replace('name: p', 'name: q')}`,
    [
      `${E}spec.subject: must set exactly one of namespaces, pods (has none) (line 7)`,
      'bad.yaml: document 2 (ClusterNetworkPolicy q): spec.subject: must set exactly one of namespaces, pods (has 2: namespaces, pods) (line 15)',
    ],
  ],
  [
    'pods needs podSelector; unknown fields anywhere',
    cnp(
      `tier: Admin\npriority: 1\nsubject:\n  pods: {namespaceSelector: {}}\norder: 3\ningress:\n- action: Deny\n  from: [{pods: {podSelector: {}, nsSelector: {}}}]`,
    ),
    [
      `${E}spec.order: unknown field (line 9)`,
      `${E}spec.subject.pods.podSelector: required value (line 8)`,
      `${E}spec.ingress[0].from[0].pods.nsSelector: unknown field (line 12)`,
    ],
  ],
  [
    'rules: action and peers required, action enum, name length',
    cnp(
      `${HEAD}\ningress:\n- name: "${'n'.repeat(101)}"\n- action: Allow\n  from: [{namespaces: {}}]\negress:\n- action: Accept`,
    ),
    [
      `${E}spec.ingress[0].name: must be no more than 100 characters (has 101) (line 9)`,
      `${E}spec.ingress[0].action: required value (line 9)`,
      `${E}spec.ingress[0].from: required value (line 9)`,
      `${E}spec.ingress[1].action: unsupported value "Allow": supported values: "Accept", "Deny", "Pass" (line 10)`,
      `${E}spec.egress[0].to: required value (line 13)`,
    ],
  ],
  [
    'peers: exactly one field; ingress peers are namespaces or pods',
    cnp(
      `${HEAD}\ningress:\n- action: Deny\n  from:\n  - {}\n  - {networks: [10.0.0.0/8]}\negress:\n- action: Deny\n  to:\n  - {namespaces: {}, nodes: {}}`,
    ),
    [
      `${E}spec.ingress[0].from[0]: must set exactly one of namespaces, pods (has none) (line 11)`,
      `${E}spec.ingress[0].from[1].networks: unknown field (an ingress peer is namespaces or pods; networks, nodes and domainNames are egress peers) (line 12)`,
      `${E}spec.ingress[0].from[1]: must set exactly one of namespaces, pods (has none) (line 12)`,
      `${E}spec.egress[0].to[0]: must set exactly one of namespaces, pods, networks, nodes, domainNames (has 2: namespaces, nodes) (line 16)`,
    ],
  ],
  [
    'minItems 1: peers, networks, domainNames, protocols',
    cnp(
      `${HEAD}\negress:\n- action: Deny\n  to: []\n- action: Deny\n  to: [{networks: []}, {domainNames: []}]\n  protocols: []`,
    ),
    [
      `${E}spec.egress[0].to: must have at least 1 item (line 10)`,
      `${E}spec.egress[1].to[0].networks: must have at least 1 item (line 12)`,
      `${E}spec.egress[1].to[1].domainNames: must have at least 1 item (line 12)`,
      `${E}spec.egress[1].protocols: must have at least 1 item (line 13)`,
    ],
  ],
  [
    'maxItems 25: rules, peers, protocols, networks, domainNames',
    cnp(
      `${HEAD}\ningress:\n${'- {action: Deny, from: [{namespaces: {}}]}\n'.repeat(26)}egress:\n- action: Deny\n  to: [${'{namespaces: {}}, '.repeat(25)}{namespaces: {}}]\n  protocols: [${'{tcp: {destinationPort: {number: 1}}}, '.repeat(25)}{udp: {destinationPort: {number: 1}}}]\n- action: Deny\n  to:\n  - networks: [${Array.from({ length: 26 }, (_, i) => `10.0.${i}.0/24`).join(', ')}]\n  - domainNames: [${Array.from({ length: 26 }, (_, i) => `d${i}.example.com`).join(', ')}]`,
    ),
    [
      `${E}spec.ingress: must have at most 25 items (has 26) (line 8)`,
      `${E}spec.egress[0].to: must have at most 25 items (has 26) (line 37)`,
      `${E}spec.egress[0].protocols: must have at most 25 items (has 26) (line 38)`,
      `${E}spec.egress[1].to[0].networks: must have at most 25 items (has 26) (line 41)`,
      `${E}spec.egress[1].to[1].domainNames: must have at most 25 items (has 26) (line 42)`,
    ],
  ],
  [
    'networks: isCIDR (CEL), maxLength 43, no duplicates',
    cnp(
      `${HEAD}\negress:\n- action: Deny\n  to:\n  - networks:\n    - 10.0.0.1\n    - 10.0.0.0/33\n    - "::ffff:10.0.0.0/104"\n    - "0000:0000:0000:0000:0000:0001:255.255.255.255/128"\n    - 10.0.0.0/8\n    - 10.0.0.0/8\n    - 010.0.0.0/8`,
    ),
    [
      `${E}spec.egress[0].to[0].networks[0]: "10.0.0.1": Invalid CIDR format provided (line 12)`,
      `${E}spec.egress[0].to[0].networks[1]: "10.0.0.0/33": Invalid CIDR format provided (line 13)`,
      `${E}spec.egress[0].to[0].networks[2]: "::ffff:10.0.0.0/104": Invalid CIDR format provided (line 14)`,
      `${E}spec.egress[0].to[0].networks[3]: "0000:0000:0000:0000:0000:0001:255.255.255.255/128": must be no more than 43 characters (line 15)`,
      `${E}spec.egress[0].to[0].networks[5]: duplicate value "10.0.0.0/8" (line 17)`,
      `${E}spec.egress[0].to[0].networks[6]: "010.0.0.0/8": Invalid CIDR format provided (line 18)`,
    ],
  ],
  [
    'domainNames: the CRD pattern, no duplicates',
    cnp(
      `${HEAD}\negress:\n- action: Deny\n  to:\n  - domainNames: [example, "*.example.com", "**.example.com", "-a.example.com", "a.example.com.", "*.example.com"]`,
    ),
    [
      `${E}spec.egress[0].to[0].domainNames[0]: "example": should match '^(\\*\\.)?([a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\\.)+[a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\\.?$' (line 11)`,
      `${E}spec.egress[0].to[0].domainNames[2]: "**.example.com": should match '^(\\*\\.)?([a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\\.)+[a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\\.?$' (line 11)`,
      `${E}spec.egress[0].to[0].domainNames[3]: "-a.example.com": should match '^(\\*\\.)?([a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\\.)+[a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\\.?$' (line 11)`,
      `${E}spec.egress[0].to[0].domainNames[5]: duplicate value "*.example.com" (line 11)`,
    ],
  ],
  [
    'protocols: exactly one field; tcp needs destinationPort; exactly one of number, range',
    cnp(
      `${HEAD}\ningress:\n- action: Deny\n  from: [{namespaces: {}}]\n  protocols:\n  - {}\n  - {tcp: {destinationPort: {number: 80}}, udp: {destinationPort: {number: 80}}}\n  - {tcp: {}}\n  - {sctp: {destinationPort: {}}}\n  - {udp: {destinationPort: {number: 53, range: {start: 1, end: 2}}}}\n  - {tcp: {destinationPort: {number: 80}, flags: [syn]}}\n  - {icmp: {type: 8}}`,
    ),
    [
      `${E}spec.ingress[0].protocols[0]: must set exactly one of tcp, udp, sctp, destinationNamedPort (has none) (line 12)`,
      `${E}spec.ingress[0].protocols[1]: must set exactly one of tcp, udp, sctp, destinationNamedPort (has 2: tcp, udp) (line 13)`,
      `${E}spec.ingress[0].protocols[2].tcp: must set exactly one of destinationPort (has none) (line 14)`,
      `${E}spec.ingress[0].protocols[3].sctp.destinationPort: must set exactly one of number, range (has none) (line 15)`,
      `${E}spec.ingress[0].protocols[4].udp.destinationPort: must set exactly one of number, range (has 2: number, range) (line 16)`,
      `${E}spec.ingress[0].protocols[5].tcp.flags: unknown field (line 17)`,
      `${E}spec.ingress[0].protocols[6].icmp: unknown field (line 18)`,
      `${E}spec.ingress[0].protocols[6]: must set exactly one of tcp, udp, sctp, destinationNamedPort (has none) (line 18)`,
    ],
  ],
  [
    'ports: 1-65535; range needs start and end with start < end (CEL)',
    cnp(
      `${HEAD}\ningress:\n- action: Deny\n  from: [{namespaces: {}}]\n  protocols:\n  - {tcp: {destinationPort: {number: 0}}}\n  - {udp: {destinationPort: {number: 65536}}}\n  - {tcp: {destinationPort: {range: {start: 80, end: 80}}}}\n  - {tcp: {destinationPort: {range: {start: 90, end: 80}}}}\n  - {sctp: {destinationPort: {range: {start: 1}}}}\n  - {tcp: {destinationPort: {range: {start: 0, end: 70000}}}}`,
    ),
    [
      `${E}spec.ingress[0].protocols[0].tcp.destinationPort.number: 0: must be between 1 and 65535, inclusive (line 12)`,
      `${E}spec.ingress[0].protocols[1].udp.destinationPort.number: 65536: must be between 1 and 65535, inclusive (line 13)`,
      `${E}spec.ingress[0].protocols[2].tcp.destinationPort.range: 80-80: Start port must be less than End port (line 14)`,
      `${E}spec.ingress[0].protocols[3].tcp.destinationPort.range: 90-80: Start port must be less than End port (line 15)`,
      `${E}spec.ingress[0].protocols[4].sctp.destinationPort.range.end: required value (line 16)`,
      `${E}spec.ingress[0].protocols[5].tcp.destinationPort.range.start: 0: must be between 1 and 65535, inclusive (line 17)`,
      `${E}spec.ingress[0].protocols[5].tcp.destinationPort.range.end: 70000: must be between 1 and 65535, inclusive (line 17)`,
    ],
  ],
  [
    'egress named ports with networks, nodes or domainNames peers (CEL)',
    cnp(
      `${HEAD}\negress:\n- action: Accept\n  to: [{pods: {podSelector: {}}}, {networks: [10.0.0.0/8]}]\n  protocols: [{destinationNamedPort: http}]\n- action: Deny\n  to: [{nodes: {}}]\n  protocols: [{tcp: {destinationPort: {number: 1}}}, {destinationNamedPort: http}]\n- action: Pass\n  to: [{domainNames: [example.com]}]\n  protocols: [{destinationNamedPort: http}]`,
    ),
    [
      `${E}spec.egress[0]: networks/nodes/domainNames peer cannot be set with namedPorts since there are no namedPorts for networks/nodes/domainNames (line 9)`,
      `${E}spec.egress[1]: networks/nodes/domainNames peer cannot be set with namedPorts since there are no namedPorts for networks/nodes/domainNames (line 12)`,
      `${E}spec.egress[2]: networks/nodes/domainNames peer cannot be set with namedPorts since there are no namedPorts for networks/nodes/domainNames (line 15)`,
    ],
  ],
  [
    'wrong types',
    cnp(
      `${HEAD}\ningress: {}\negress:\n- action: Deny\n  to: [{namespaces: []}, null]\n  protocols: [{destinationNamedPort: 80}]`,
    ),
    [
      `${E}spec.ingress: must be a list, not an object (line 8)`,
      `${E}spec.egress[0].to[0].namespaces: must be an object, not a list (line 11)`,
      `${E}spec.egress[0].to[1]: must be an object, not null (line 11)`,
      `${E}spec.egress[0].protocols[0].destinationNamedPort: must be a string, not a number (80) (line 12)`,
    ],
  ],
  [
    'selectors: the CRD types key and operator and requires them',
    cnp(
      `tier: Admin\npriority: 1\nsubject:\n  namespaces:\n    matchLabels: {a: 1}\n    matchExpressions: [{key: a}, {operator: Exists, values: [1]}]`,
    ),
    [
      `${E}spec.subject.namespaces.matchLabels.a: must be a string, not a number (1) (line 9)`,
      `${E}spec.subject.namespaces.matchExpressions[0].operator: required value (line 10)`,
      `${E}spec.subject.namespaces.matchExpressions[1].key: required value (line 10)`,
      `${E}spec.subject.namespaces.matchExpressions[1].values[0]: must be a string, not number (line 10)`,
    ],
  ],
  [
    // network-policy-api pkg/crdtest/testdata/invalid/invalid-ingress-action.yaml (Apache-2.0)
    'upstream crdtest: invalid-ingress-action',
    `apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata:
  name: invalid-ingress-action
spec:
  tier: Admin
  priority: 10
  subject:
    namespaces:
      matchLabels:
        kubernetes.io/metadata.name: sensitive-ns
  ingress:
    - action: Invalid
      from:
      - namespaces:
         namespaceSelector: {}
      name: select-all-deny-all`,
    [
      'bad.yaml: document 1 (ClusterNetworkPolicy invalid-ingress-action): spec.ingress[0].action: unsupported value "Invalid": supported values: "Accept", "Deny", "Pass" (line 13)',
      // Strict field validation (kubectl's default) reports what the API server would prune.
      'bad.yaml: document 1 (ClusterNetworkPolicy invalid-ingress-action): spec.ingress[0].from[0].namespaces.namespaceSelector: unknown field (line 16)',
    ],
  ],
  [
    'metadata: the name is a DNS subdomain',
    cnp(HEAD).replace('name: p', 'name: Deny_All'),
    [
      `bad.yaml: document 1 (ClusterNetworkPolicy Deny_All): metadata.name: "Deny_All": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com') (line 3)`,
    ],
  ],
  [
    'duplicate ClusterNetworkPolicy; apiVersion',
    `${cnp(HEAD)}---\n${cnp(HEAD)}---\n${cnp(HEAD).replace('v1alpha2', 'v1alpha1').replace('name: p', 'name: q')}`,
    [
      'bad.yaml: document 2 (ClusterNetworkPolicy p): duplicate ClusterNetworkPolicy p (first defined in document 1)',
      'bad.yaml: document 3 (ClusterNetworkPolicy q): apiVersion: "policy.networking.k8s.io/v1alpha1" does not serve ClusterNetworkPolicy: use apiVersion: policy.networking.k8s.io/v1alpha2 (line 17)',
    ],
  ],
  [
    'Node: pod CIDRs, addresses',
    `apiVersion: v1
kind: Node
metadata: {name: n1}
spec:
  podCIDR: 10.244.9.0/24
  podCIDRs: [10.244.1.0/24, 10.245.0.0/16, 10.0.0.0/33]
status:
  addresses:
  - {type: InternalIP, address: 10.0.0.300}
  - {type: Private, address: 10.0.0.1}
  - {type: Hostname}
`,
    [
      'bad.yaml: document 1 (Node n1): spec.podCIDRs[1]: "10.245.0.0/16": may specify no more than one CIDR for each IP family (line 6)',
      'bad.yaml: document 1 (Node n1): spec.podCIDRs[2]: "10.0.0.0/33": must be a valid CIDR (e.g. 10.244.1.0/24) (line 6)',
      'bad.yaml: document 1 (Node n1): spec.podCIDRs: must have at most 2 items (one per IP family) (line 6)',
      'bad.yaml: document 1 (Node n1): spec.podCIDR: "10.244.9.0/24": must match the first entry of podCIDRs ("10.244.1.0/24") (line 5)',
      'bad.yaml: document 1 (Node n1): status.addresses[0].address: "10.0.0.300": must be a valid IP address (line 9)',
      'bad.yaml: document 1 (Node n1): status.addresses[1].type: unsupported value "Private": supported values: "Hostname", "InternalIP", "ExternalIP", "InternalDNS", "ExternalDNS" (line 10)',
      'bad.yaml: document 1 (Node n1): status.addresses[2].address: required value (line 11)',
    ],
  ],
  [
    'Node addresses collide with another node and a pod',
    `apiVersion: v1
kind: Node
metadata: {name: n1}
status: {addresses: [{type: InternalIP, address: 192.168.0.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
status: {addresses: [{type: InternalIP, address: 192.168.0.1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x}
spec: {nodeName: n2, containers: [{name: c, image: i}]}
status: {podIP: 192.168.0.1}
`,
    [
      'bad.yaml: document 2 (Node n2): status.addresses: address 192.168.0.1 is already used by node n1 (line 9)',
      'bad.yaml: document 3 (Pod x/a): status.podIPs: address 192.168.0.1 is already used by node n1 (line 15)',
    ],
  ],
];

describe('every invalid ClusterNetworkPolicy and Node is rejected as the API server with the CRD rejects it', () => {
  test.each(CASES)('%s', (_what, text, expected) => {
    expect(errorsOf(text)).toEqual(expected);
  });
});

describe('valid ClusterNetworkPolicies load', () => {
  test('upstream crdtest: cluster-wide-deny and deny-with-ports', () => {
    // network-policy-api pkg/crdtest/testdata/valid/{cluster-wide-deny,deny-with-ports}.yaml (Apache-2.0)
    const text = `apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata:
  name: cluster-wide-deny
spec:
  tier: Admin
  priority: 0
  subject:
    namespaces:
      matchLabels:
        kubernetes.io/metadata.name: sensitive-ns
  ingress:
    - action: Deny
      name: select-all-deny-all
      from:
      - pods:
          namespaceSelector:
            matchLabels: {}
          podSelector:
            matchLabels: {}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata:
  name: deny-with-ports
spec:
  tier: Admin
  priority: 0
  subject:
    namespaces:
      matchLabels:
        kubernetes.io/metadata.name: sensitive-ns
  ingress:
    - action: Deny
      name: select-all-deny-all
      from:
      - pods:
          namespaceSelector:
            matchLabels: {}
          podSelector:
            matchLabels: {}
      protocols:
        - tcp:
            destinationPort:
              number: 8080
            # flags: [syn] # future extension example
        - tcp:
            destinationPort:
              range:
                start: 8080
                end: 9090
        - udp:
            destinationPort:
              number: 8080
        - udp:
            destinationPort:
              number: 9090
        - destinationNamedPort: http
        - destinationNamedPort: monitoring
`;
    expect(loads(text)).toEqual([]);
  });

  test('every peer kind, Pass, Baseline, exactly 25 items, null fields as absent, a namespace ignored', () => {
    const text = cnp(`tier: Baseline
priority: 1000
subject:
  pods:
    namespaceSelector: {matchExpressions: [{key: team, operator: NotIn, values: [ops]}]}
    podSelector: {}
ingress: null
egress:
- name: "${'n'.repeat(100)}"
  action: Pass
  to:
  - networks: ["10.0.0.0/8", "fd00::/64", "192.168.1.7/24", "::/0"]
  - nodes: {matchLabels: {node-role.kubernetes.io/control-plane: ""}}
  - domainNames: ["*.example.com", "example.com.", "a_b.example.com"]
  protocols:
  - tcp: {destinationPort: {range: {start: 1, end: 65535}}}
  - sctp: {destinationPort: {number: 9}}
- action: Accept
  to: [{pods: {podSelector: {}}, networks: null}]
  protocols: [{destinationNamedPort: dns}]
- action: Deny
  to: [${'{namespaces: {}}, '.repeat(24)}{namespaces: {}}]`).replace(
      'name: p}',
      'name: p, namespace: ignored}',
    );
    expect(loads(text)).toEqual([]);
  });

  test('an invalid label selector loads with a warning naming its line', () => {
    const text = cnp(`tier: Admin
priority: 3
subject:
  namespaces:
    matchExpressions: [{key: team, operator: Equals, values: [a]}]
egress:
- action: Deny
  to: [{pods: {podSelector: {matchExpressions: [{key: app, operator: In}]}}}]`);
    expect(loads(text)).toEqual([
      'ok.yaml: document 1 (ClusterNetworkPolicy p): spec.subject.namespaces.matchExpressions[0].operator: unsupported value "Equals": supported values: "In", "NotIn", "Exists", "DoesNotExist": the API server accepts this (the CRD does not check label selectors), but it is not a valid label selector; Palisade, as client-go, treats the whole selector as selecting nothing (line 9)',
      "ok.yaml: document 1 (ClusterNetworkPolicy p): spec.egress[0].to[0].pods.podSelector.matchExpressions[0].values: must be specified when `operator` is 'In': the API server accepts this (the CRD does not check label selectors), but it is not a valid label selector; Palisade, as client-go, treats the whole selector as selecting nothing (line 12)",
    ]);
  });
});

test('isCIDR is Kubernetes CEL isCIDR: prefix required, host bits allowed, no IPv4-mapped IPv6', () => {
  expect(
    ['10.0.0.0/8', '10.1.2.3/8', '::/0', 'fd00::1/128', '0.0.0.0/0', '::1.2.3.4/128'].map(isCIDR),
  ).toEqual([true, true, true, true, true, true]);
  expect(
    ['10.0.0.1', '10.0.0.0/08', '::ffff:1.2.3.4/128', 'fe80::1%eth0/64', '10.0.0.0/ 8', ''].map(isCIDR),
  ).toEqual([false, false, false, false, false, false]);
});
