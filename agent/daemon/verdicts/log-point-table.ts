/**
 * The agent's map from log point identifiers to what they mean, kept current across updates.
 *
 * The dataplane's derivation (dataplane/log-points.ts) says which points the compiled state's rules
 * carry. The table applies each delta to it *before* the dataplane writes the rules (a record from
 * a new rule can reach the agent before the apply call returns), and keeps points that left for
 * `retentionMs` (default 10 minutes): a record logged by the old rules just before an update,
 * batched by the kernel for up to a second and queued behind other records, is still attributed
 * to what those rules meant. Identifiers are content-derived, so a retained point can never be
 * confused with a new one.
 */
import type { CompileDelta, CompiledState } from '../../../compiler';
import { LogPointIndex, type LogPointOptions } from '../../../dataplane/log-points';
import type { LogPoint, LogPointId } from '../../../dataplane/verdict-log';
import type { Clock } from '../clock';

export const DEFAULT_RETENTION_MS = 10 * 60_000;

export class LogPointTable {
  private readonly index: LogPointIndex;
  private readonly retired = new Map<LogPointId, { point: LogPoint; at: number }>();

  constructor(
    opts: LogPointOptions,
    private readonly clock: Clock,
    private readonly retentionMs = DEFAULT_RETENTION_MS,
  ) {
    this.index = new LogPointIndex(opts);
  }

  update(state: CompiledState, delta: CompileDelta): void {
    const now = this.clock.now();
    const { added, removed } = this.index.update(state, delta);
    for (const p of added) this.retired.delete(p.id);
    for (const p of removed) this.retired.set(p.id, { point: p, at: now });
    for (const [id, r] of this.retired) {
      // Map iteration follows insertion order, which is retirement order: stop at the first young one.
      if (now - r.at < this.retentionMs) break;
      this.retired.delete(id);
    }
  }

  /** The point an identifier names now, or named within the retention window. */
  lookup(id: LogPointId): LogPoint | undefined {
    return this.index.get(id) ?? this.retired.get(id)?.point;
  }

  counts(): { current: number; retired: number } {
    return { current: this.index.size, retired: this.retired.size };
  }
}
