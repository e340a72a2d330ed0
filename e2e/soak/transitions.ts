/**
 * Which probe disagreements a soak may excuse. Every change the soak makes (an API write, an
 * injected fault) is recorded with the time it happened and what it can affect: some pods, a
 * namespace, a node, or everything. A probed cell (src → dst) whose outcome differs from analyze
 * is inside the transition window when a change that can affect it happened within `windowMs`
 * before the probe round started, or during the round, or is still going on (a killed agent not
 * back yet); otherwise it is a disagreement outside the window, which must never happen.
 * Pure: the soak feeds it times.
 */

/** What a change can affect; a cell is affected when its source or destination matches. */
export type Scope =
  | { readonly kind: 'pod'; readonly key: string }
  | { readonly kind: 'namespace'; readonly name: string }
  | { readonly kind: 'node'; readonly name: string }
  | { readonly kind: 'all' };

export interface CellEnd {
  readonly key: string;
  readonly namespace: string;
  readonly node: string;
}

interface Transition {
  readonly scope: Scope;
  readonly start: number;
  /** Infinity while it lasts (a fault whose effect is not over). */
  end: number;
}

function touches(scope: Scope, end: CellEnd): boolean {
  switch (scope.kind) {
    case 'all':
      return true;
    case 'pod':
      return end.key === scope.key;
    case 'namespace':
      return end.namespace === scope.name;
    case 'node':
      return end.node === scope.name;
  }
}

export class TransitionLog {
  private readonly transitions: Transition[] = [];

  /** `windowMs`: a fixed window, or what it is at each question (the measured p99 moves). */
  constructor(windowMs: number | (() => number)) {
    this.window = typeof windowMs === 'number' ? () => windowMs : windowMs;
  }

  private readonly window: () => number;

  /** A change at `at` (an instant). */
  change(scope: Scope, at: number): void {
    this.transitions.push({ scope, start: at, end: at });
  }

  /** A change that lasts until `done` is called with the time it ended. */
  begin(scope: Scope, at: number): (endedAt: number) => void {
    const t: Transition = { scope, start: at, end: Infinity };
    this.transitions.push(t);
    return (endedAt) => {
      t.end = endedAt;
    };
  }

  /** Whether a disagreement of cell src → dst, probed in [roundStart, roundEnd], is excused. */
  excused(src: CellEnd, dst: CellEnd, roundStart: number, roundEnd: number): boolean {
    const from = roundStart - this.window();
    return this.transitions.some(
      (t) => t.start <= roundEnd && t.end >= from && (touches(t.scope, src) || touches(t.scope, dst)),
    );
  }

  /** Forget what can no longer excuse anything (memory stays flat over a long soak). */
  prune(now: number): void {
    const keepAfter = now - this.window() - 60_000;
    for (let i = this.transitions.length - 1; i >= 0; i--)
      if (this.transitions[i].end < keepAfter) this.transitions.splice(i, 1);
  }
}
