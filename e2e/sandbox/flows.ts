/**
 * Forgetting flows between steps: UDP flows, so that every probe is a new connection; and the
 * probes' own flows after a probe, so that they do not weigh on the applies that follow.
 *
 * Why: the agents' chains let ESTABLISHED traffic through before any policy check (as every
 * NetworkPolicy implementation does: policy decides new connections). A UDP probe opens a
 * new socket with a random source port, and conntrack keeps a UDP flow that saw a reply for
 * 30 s or more. When a later probe of the same pair and port happens to draw the same source
 * port, it rides on the old flow and passes although the policy now denies it: with a few
 * thousand UDP trials over a run, that happens. TCP needs nothing (a SYN on a closed flow is
 * a new connection), nor does SCTP (the probe's INIT never gets an answer, so its flow never
 * becomes established). Conntrack tables are per network namespace; only node namespaces
 * filter, so only their UDP flows are deleted.
 */
import { inNetns } from './netns';
import { run } from './run';
import type { Sandbox } from './sandbox';
import { findCommand } from './tools';

export async function forgetUdpFlows(sandbox: Sandbox): Promise<void> {
  const conntrack = findCommand('conntrack');
  if (!conntrack) throw new Error('conntrack is required (apt-get install -y conntrack)');
  await Promise.all(
    sandbox.plan.nodes.map(async (n) => {
      const r = await run(inNetns(sandbox.names.nodeNs(n.name), [conntrack, '-D', '-p', 'udp']));
      // conntrack exits 1 when it deleted nothing; it still says how many it deleted.
      if (!/flow entries have been deleted/.test(r.stderr))
        throw new Error(`conntrack -D -p udp in ${n.name} failed (exit ${r.code}): ${r.stderr.trim()}`);
    }),
  );
}

/**
 * Deletes the flows of the probes just run (every protocol, to the probed ports) from the
 * node namespaces. Why: after each apply the agents' flow cutter lists the conntrack entries of
 * the addresses the apply affected, and a shared cluster's probes leave thousands of finished
 * TCP flows (TIME_WAIT for two minutes) and unanswered SCTP ones behind, case after case, so
 * each listing grows with the run. Flows to other ports (the agents' own API connections) are
 * left alone.
 */
export async function forgetProbeFlows(
  sandbox: Sandbox,
  probes: readonly { port: number; protocol: string }[],
): Promise<void> {
  const conntrack = findCommand('conntrack');
  if (!conntrack) throw new Error('conntrack is required (apt-get install -y conntrack)');
  const ports = [...new Map(probes.map((p) => [`${p.protocol}/${p.port}`, p])).values()];
  await Promise.all(
    sandbox.plan.nodes.flatMap((n) =>
      ports.map(async (p) => {
        const argv = [conntrack, '-D', '-p', p.protocol.toLowerCase(), '--dport', String(p.port)];
        const r = await run(inNetns(sandbox.names.nodeNs(n.name), argv));
        if (!/flow entries have been deleted/.test(r.stderr))
          throw new Error(
            `${argv.slice(1).join(' ')} in ${n.name} failed (exit ${r.code}): ${r.stderr.trim()}`,
          );
      }),
    ),
  );
}
