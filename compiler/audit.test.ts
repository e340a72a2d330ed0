/**
 * Audit mode (palisade.io/enforcement: audit): an audited policy changes no verdict, and the
 * verdict carries what would happen if it were enforced.
 */
import type { ClusterPolicyInfo, ClusterSnapshot } from './model';
import { check, ns, pod, policy } from './testutil/factories';
import { projectPolicy } from './scenario/project';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const base = (): Mutable<ClusterSnapshot> => ({
  namespaces: [ns('shop'), ns('other')],
  pods: [
    pod('shop/web', { ip: '10.0.0.1', labels: { app: 'web' } }),
    pod('shop/db', { ip: '10.0.0.2', labels: { app: 'db' } }),
    pod('other/client', { ip: '10.0.0.3' }),
  ],
  policies: [],
});

describe('audit mode', () => {
  test('an audited default deny allows what it would deny, and says it would deny it', () => {
    const s = base();
    s.policies = [{ ...policy('shop/default-deny', { podSelector: {} }), audit: true }];
    const v = check(s, 'other/client', 'shop/web');
    expect(v.allowed).toBe(true);
    expect(v.ingress.isolatingPolicies).toEqual([]);
    expect(v.audited?.allowed).toBe(false);
    expect(v.audited?.ingress.isolatingPolicies).toEqual(['shop/default-deny']);
  });

  test('no audited policy at either end: no audited outcome', () => {
    const s = base();
    s.policies = [
      { ...policy('shop/default-deny', { podSelector: { matchLabels: { app: 'db' } } }), audit: true },
    ];
    expect(check(s, 'other/client', 'shop/web').audited).toBeUndefined();
    expect(check(s, 'other/client', 'shop/db').audited?.allowed).toBe(false);
  });

  test('an audited allow next to an enforced deny would allow', () => {
    const s = base();
    s.policies = [
      policy('shop/default-deny', { podSelector: {} }),
      {
        ...policy('shop/allow-other', {
          podSelector: {},
          ingress: [
            { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'other' } } }] },
          ],
        }),
        audit: true,
      },
    ];
    const v = check(s, 'other/client', 'shop/web');
    expect(v.allowed).toBe(false);
    expect(v.audited?.allowed).toBe(true);
    expect(v.audited?.ingress.allowedBy).toEqual([
      { policy: 'shop/allow-other', direction: 'ingress', rule: 0 },
    ]);
  });

  test('an audited admin Deny is reported with its rule, enforced verdict unchanged', () => {
    const s = base();
    const cnp: ClusterPolicyInfo = {
      name: 'no-other',
      tier: 'Admin',
      priority: 5,
      subject: { namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } } },
      ingress: [{ name: 'deny', action: 'Deny', peers: [{ namespaces: {} }] }],
      egress: [],
      audit: true,
    };
    s.clusterPolicies = [cnp];
    const v = check(s, 'other/client', 'shop/web');
    expect(v.allowed).toBe(true);
    expect(v.ingress.decidedBy).toBe('default');
    expect(v.audited?.allowed).toBe(false);
    expect(v.audited?.ingress.clusterRule).toMatchObject({ policy: 'no-other', rule: 0, action: 'Deny' });
  });

  test('the annotation, and only the value "audit", puts a policy in audit mode', () => {
    const obj = (value?: string) => ({
      metadata: {
        name: 'p',
        namespace: 'x',
        ...(value ? { annotations: { 'palisade.io/enforcement': value } } : {}),
      },
      spec: { podSelector: {} },
    });
    expect(projectPolicy(obj('audit')).audit).toBe(true);
    expect(projectPolicy(obj('enforce')).audit).toBeUndefined();
    expect(projectPolicy(obj()).audit).toBeUndefined();
  });
});
