/**
 * The nft script that recreates a DataplaneView of the nftables backend (desired, or as the
 * kernel holds it) — for the CLI, which replays the agent's view into a FakeNft and walks a
 * packet through it (agent/cli/live/kernel-path.ts).
 */
import type { DataplaneView } from '../api';
import type { Chain, KernelSet } from '../model';
import { TABLE_REF } from './names';
import { declareChain, declareSet } from './plan';

export function viewScript(view: DataplaneView): string {
  const lines = [`add table ${TABLE_REF}`];
  const elements: string[] = [];
  for (const s of view.ipsets) {
    const set = { ...s, members: new Set(s.members) } as unknown as KernelSet;
    lines.push(declareSet(set));
    if (s.members.length) elements.push(`add element ${TABLE_REF} ${s.name} { ${s.members.join(', ')} }`);
  }
  for (const c of view.chains) lines.push(declareChain({ ...c, rules: [] } as unknown as Chain));
  for (const c of view.chains)
    for (const r of c.rules) lines.push(`add rule ${TABLE_REF} ${c.name} ${r.text}`);
  return `${[...lines, ...elements].join('\n')}\n`;
}
