/**
 * Read-back: the kernel's own objects (PALISADE-* chains, hook rules, PALISADE-* ipsets) parsed
 * from `iptables-save -t filter` and `ipset save` into the same TablesState shape the desired
 * state has. Everything else in the output is skipped unread.
 *
 * Rules are identified by the hash in their comment (see model.ts); a rule of ours without one
 * (edited by hand) gets a hash that no rendered rule has, so it shows up as a difference.
 */
import type { IPFamily } from '../api';
import { canonicalIP, canonicalIPPort, netEntry, parseCIDR } from '../ip';
import type { Chain, ChainKind, HookRule, KernelSet, Rule, SetRole, TableState } from '../model';
import { RULE_HASH_CHARS, RULE_HASH_TAG } from '../names';
import {
  CHAIN_EGRESS,
  CHAIN_INGRESS,
  FIXED_CHAINS,
  PREFIX,
  type Direction,
  isOwnName,
  isolationSetName,
  shortHash,
} from './names';
import type { SetType } from './render';

const HASH_RE = new RegExp(`--comment "?${RULE_HASH_TAG}([A-Z2-7]{${RULE_HASH_CHARS}})`);
const TARGET_RE = /(?:^|\s)-[jg] (\S+)/;

export function ruleHashOf(body: string): string {
  return HASH_RE.exec(body)?.[1] ?? `unhashed:${shortHash(body, RULE_HASH_CHARS)}`;
}

function chainKindOf(name: string): { kind: ChainKind; direction?: Direction } {
  if (name === CHAIN_INGRESS) return { kind: 'dispatch', direction: 'ingress' };
  if (name === CHAIN_EGRESS) return { kind: 'dispatch', direction: 'egress' };
  if (FIXED_CHAINS.includes(name)) return { kind: 'fixed' };
  const code = name.slice(PREFIX.length, PREFIX.length + 3);
  const direction: Direction = code[1] === 'I' ? 'ingress' : 'egress';
  if (code === 'PI-' || code === 'PE-') return { kind: 'policy', direction };
  if (code === 'WI-' || code === 'WE-') return { kind: 'pod', direction };
  if (code === 'CI-' || code === 'CE-') return { kind: 'clusterPolicy', direction };
  return { kind: 'fixed' };
}

/** Own chains and hooks from the filter table of one family's iptables-save output. */
export function parseIptablesSave(text: string, family: IPFamily): TableState {
  const rules = new Map<string, Rule[]>();
  const hooks: HookRule[] = [];
  const positions = new Map<string, number>();
  let inFilter = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      inFilter = line === '*filter';
      continue;
    }
    if (!inFilter || line === '' || line.startsWith('#') || line === 'COMMIT') continue;
    if (line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0];
      if (isOwnName(name) && !rules.has(name)) rules.set(name, []);
      continue;
    }
    // With -c the counters come first: "[12:3456] -A CHAIN ...".
    const spec = line.startsWith('[') ? line.slice(line.indexOf(']') + 1).trim() : line;
    if (!spec.startsWith('-A ')) continue;
    const rest = spec.slice(3);
    const space = rest.indexOf(' ');
    const chain = space < 0 ? rest : rest.slice(0, space);
    const body = space < 0 ? '' : rest.slice(space + 1);
    if (isOwnName(chain)) {
      let list = rules.get(chain);
      if (!list) rules.set(chain, (list = []));
      list.push({ body, hash: ruleHashOf(body) });
      continue;
    }
    const position = (positions.get(chain) ?? 0) + 1;
    positions.set(chain, position);
    const target = TARGET_RE.exec(body)?.[1];
    if (target && isOwnName(target)) {
      hooks.push({ builtin: chain, target, body, hash: ruleHashOf(body), position });
    }
  }
  const chains = new Map<string, Chain>();
  for (const [name, list] of rules)
    chains.set(name, { name, table: family, family, ...chainKindOf(name), rules: list });
  return { chains, hooks };
}

function normaliseElement(type: string, element: string): string {
  try {
    switch (type) {
      case 'hash:ip':
        return canonicalIP(element);
      case 'hash:net':
        return netEntry(parseCIDR(element));
      case 'hash:ip,port':
        return canonicalIPPort(element).entry;
    }
  } catch {
    // Not ours to judge: keep the text, it will show as a difference if we did not put it there.
  }
  return element;
}

function setRoleOf(name: string, family: IPFamily): { role: SetRole; direction?: Direction } {
  if (name === isolationSetName('ingress', family)) return { role: 'isolation', direction: 'ingress' };
  if (name === isolationSetName('egress', family)) return { role: 'isolation', direction: 'egress' };
  if (name.startsWith(`${PREFIX}TMP-`)) return { role: 'temp' };
  return { role: 'peer' };
}

/** Own sets from `ipset save` output (all sets, or one). */
export function parseIpsetSave(text: string): Map<string, KernelSet> {
  const sets = new Map<string, KernelSet>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('create ')) {
      const parts = line.split(/\s+/);
      const name = parts[1];
      if (!isOwnName(name)) continue;
      const famIdx = parts.indexOf('family');
      const family: IPFamily = famIdx > 0 && parts[famIdx + 1] === 'inet6' ? 6 : 4;
      sets.set(name, {
        name,
        family,
        type: parts[2] as SetType,
        ...setRoleOf(name, family),
        members: new Set(),
      });
    } else if (line.startsWith('add ')) {
      const parts = line.split(/\s+/);
      const set = sets.get(parts[1]);
      if (!set) continue;
      const element = normaliseElement(set.type, parts[2]);
      set.members.add(parts.slice(3).includes('nomatch') ? `${element} nomatch` : element);
    }
  }
  return sets;
}
