/**
 * The live `palisade explain` in words: the verdict and its reasons (explain-text.ts), then the
 * kernel path, one line per rule the packet matched ("CHAIN #N  rule  note"), with the rules of
 * a policy chain it came back from empty-handed shown under the jump that entered it.
 */
import type { LiveExplainReport } from '../live/live-explain';
import type { PathStep } from '../live/kernel-path';
import { familyText, ruleTarget } from '../live/kernel-objects';
import { palette } from './colour';
import { renderExplanation } from './explain-text';
import { renderTable } from './table';

function setWords(step: PathStep): string {
  return step.sets.map((s) => `${s.element} ${s.member ? 'in' : 'not in'} ${s.name}`).join('; ');
}

export function renderLiveExplain(r: LiveExplainReport, colour: boolean): string {
  const c = palette(colour);
  const text = renderExplanation(r.explanation);
  const [headline, ...rest] = text.split('\n');
  const out = [r.allowed ? c.green(headline) : c.red(headline), ...rest];
  const nodes = [...new Set(r.decidedElsewhere.map((d) => d.node).filter((n) => n !== ''))];
  for (const n of nodes) {
    out.splice(
      out.length - 1,
      0,
      `For the other half: kubectl palisade --node ${n} explain --from ${r.from} --to ${r.to} --port ${r.port}/${r.protocol}`,
    );
  }
  const path = r.kernelPath;
  if (!path) {
    out.splice(out.length - 1, 0, '', `Kernel path on ${r.node}: none (${r.kernelNote}).`);
    return out.join('\n');
  }
  const p = path.packet;
  out.pop();
  out.push(
    '',
    c.bold(
      `Kernel path on ${r.node} (${familyText(path.family)}, ${p.src} -> ${p.dst} ${p.protocol.toLowerCase()}/${p.port}, first packet, ${path.hook}; as the kernel holds it now):`,
    ),
  );
  const rows: string[][] = [];
  const decisive = path.decidedBy;
  for (const step of path.steps) {
    const isDecisive = decisive !== null && decisive.chain === step.chain && decisive.rule === step.rule;
    const where = `${step.chain} #${step.rule}`;
    const notes = [step.note, setWords(step)].filter((x) => x !== '').join('; ');
    rows.push([isDecisive ? c.bold(`> ${where}`) : `  ${where}`, step.spec, notes]);
    const t = ruleTarget(step.spec);
    if (t?.how === 'jump') {
      for (const miss of path.misses.filter((m) => m.chain === t.target)) {
        const why = setWords(miss);
        rows.push([
          c.dim(`    ${miss.chain} #${miss.rule}`),
          c.dim(`(no match) ${miss.spec}`),
          c.dim([miss.note, why].filter((x) => x !== '').join('; ')),
        ]);
      }
    }
  }
  out.push(renderTable(rows));
  if (path.result === 'dropped') {
    const last = path.steps.at(-1);
    out.push(
      c.red(
        `  => dropped by ${last ? `${last.chain} #${last.rule}` : 'the hook'}${last?.note ? ` (${last.note})` : ''}`,
      ),
    );
  } else {
    out.push(
      c.green(`  => Palisade's chains let it through: back in ${path.hook}, other tools' rules follow`),
    );
  }
  if (r.kernelAgrees === false) {
    out.push(
      c.red(
        `  The kernel disagrees with the agent's model (${r.allowed ? 'allowed' : 'denied'}): it does not hold what the agent wants; run \`palisade diff\`.`,
      ),
    );
  }
  out.push('');
  return out.join('\n');
}
