/**
 * Label selectors (metav1.LabelSelector): matching and a canonical key.
 * An empty selector selects everything; a requirement whose key is absent fails In and
 * Exists and passes NotIn and DoesNotExist, as the API server's labels package does.
 */
import type { LabelSelector, LabelSelectorRequirement, Labels } from './model';

export function isEmptySelector(s: LabelSelector | undefined): boolean {
  return !s || (Object.keys(s.matchLabels ?? {}).length === 0 && (s.matchExpressions ?? []).length === 0);
}

function requirementMatches(r: LabelSelectorRequirement, labels: Labels): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  switch (r.operator) {
    case 'In':
      return has && (r.values ?? []).includes(labels[r.key]);
    case 'NotIn':
      return !has || !(r.values ?? []).includes(labels[r.key]);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
  }
}

export function selectorMatches(s: LabelSelector | undefined, labels: Labels): boolean {
  if (!s) return true;
  const ml = s.matchLabels;
  if (ml) {
    for (const k in ml) {
      if (labels[k] !== ml[k] || !Object.prototype.hasOwnProperty.call(labels, k)) return false;
    }
  }
  for (const r of s.matchExpressions ?? []) {
    if (!requirementMatches(r, labels)) return false;
  }
  return true;
}

/**
 * Canonical text of a selector: equal for selectors made of the same requirements, whatever
 * the order of keys, expressions and values (so equal keys have equal canonicalSelector()).
 */
export function selectorKey(s: LabelSelector | undefined): string {
  if (isEmptySelector(s)) return '*';
  const reqs = new Set<string>();
  for (const [k, v] of Object.entries(s!.matchLabels ?? {})) reqs.add(`${k}=${v}`);
  for (const r of s!.matchExpressions ?? []) {
    switch (r.operator) {
      case 'In':
      case 'NotIn': {
        const vals = [...new Set(r.values ?? [])].sort();
        reqs.add(`${r.key} ${r.operator === 'In' ? 'in' : 'notin'} (${vals.join(',')})`);
        break;
      }
      case 'Exists':
        reqs.add(`${r.key} exists`);
        break;
      case 'DoesNotExist':
        reqs.add(`!${r.key}`);
        break;
    }
  }
  return [...reqs].sort().join(';');
}

/**
 * A selector in one canonical shape (sorted keys, expressions and values; empty parts
 * dropped), so two peer sets with the same key also carry the same definition.
 */
export function canonicalSelector(s: LabelSelector | undefined): LabelSelector {
  if (isEmptySelector(s)) return {};
  const out: { matchLabels?: Record<string, string>; matchExpressions?: LabelSelectorRequirement[] } = {};
  const ml = Object.entries(s!.matchLabels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (ml.length) out.matchLabels = Object.fromEntries(ml);
  const exprs = (s!.matchExpressions ?? [])
    .map((r) =>
      r.operator === 'In' || r.operator === 'NotIn'
        ? { key: r.key, operator: r.operator, values: [...new Set(r.values ?? [])].sort() }
        : { key: r.key, operator: r.operator },
    )
    .map((r) => [JSON.stringify(r), r] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const unique = [...new Map(exprs).values()];
  if (unique.length) out.matchExpressions = unique;
  return out;
}
