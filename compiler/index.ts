/**
 * The compiler's public surface. Everything outside compiler/ imports from here.
 *
 *   Kubernetes objects ──project──▶ model (model.ts)
 *   model ──IncrementalCompiler──▶ CompiledState (ir.ts) + CompileDelta per batch of events
 *   CompiledState ──verdict()──▶ Verdict (verdict-types.ts), the explanation of any decision
 */
export * from './model';
export * from './ir';
export * from './verdict-types';
export { IncrementalCompiler, compileSnapshot } from './incremental';
export type { CompilerOptions } from './incremental';
export { verdict } from './verdict';
export { selectorMatches, selectorKey, isEmptySelector } from './selector';
export { compileClusterPolicy, subjectMatches, unsupportedRuleWarnings } from './cluster-policy-compile';
