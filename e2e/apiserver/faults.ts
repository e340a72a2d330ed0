/**
 * Fault injection for tests: rules that delay or fail matching requests before they reach the handlers.
 * A rule matches on method, path (prefix string or RegExp, tested against path and query) and whether
 * the request is a watch; `times` bounds how often it fires.
 */
import { ApiError } from './errors';

export interface FaultRule {
  method?: string;
  path?: string | RegExp;
  watch?: boolean;
  /** Delay before handling (or before failing). */
  latencyMs?: number;
  /** Answer with this HTTP status and a matching metav1.Status instead of handling. */
  failWith?: 429 | 500 | 503 | 504;
  /** How many requests this rule affects; unlimited when absent. */
  times?: number;
}

const REASONS: Record<number, string> = {
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

export interface FaultDecision {
  latencyMs: number;
  error?: ApiError;
}

export class FaultInjector {
  private rules: { rule: FaultRule; remaining: number }[] = [];

  add(rule: FaultRule): () => void {
    const entry = { rule, remaining: rule.times ?? Infinity };
    this.rules.push(entry);
    return () => {
      this.rules = this.rules.filter((e) => e !== entry);
    };
  }

  clear(): void {
    this.rules = [];
  }

  /** What to do with a request; consumes one use of every rule that matches. */
  decide(method: string, pathAndQuery: string, isWatch: boolean): FaultDecision {
    const decision: FaultDecision = { latencyMs: 0 };
    for (const entry of this.rules) {
      const { rule } = entry;
      if (entry.remaining <= 0) continue;
      if (rule.method && rule.method.toUpperCase() !== method) continue;
      if (rule.watch !== undefined && rule.watch !== isWatch) continue;
      if (typeof rule.path === 'string' && !pathAndQuery.startsWith(rule.path)) continue;
      if (rule.path instanceof RegExp && !rule.path.test(pathAndQuery)) continue;
      entry.remaining--;
      decision.latencyMs += rule.latencyMs ?? 0;
      if (rule.failWith && !decision.error) {
        decision.error = new ApiError(
          rule.failWith,
          REASONS[rule.failWith],
          `injected fault: ${REASONS[rule.failWith]}`,
          {
            retryAfterSeconds: rule.failWith === 429 ? 1 : undefined,
          },
        );
      }
    }
    this.rules = this.rules.filter((e) => e.remaining > 0);
    return decision;
  }
}
