/**
 * `palisade analyze` of a cluster state held as Kubernetes objects: the objects are written
 * out as the multi-document YAML a scenario file is, loaded exactly as `palisade analyze FILE`
 * loads one, and analyzed. So "the matrix analyze prints for this state" means just that, for
 * states a test builds step by step (policy updates, relabels) as well as for case files.
 */
import { stringify } from 'yaml';
import { analyzeScenario, type AnalyzeResult } from '../../agent/cli/analysis';
import { loadScenario } from '../../compiler/scenario';
import type { K8sObject, PlanProbe } from '../sandbox';

/**
 * The objects as a scenario file (multi-document YAML). CustomResourceDefinitions are left out:
 * they make the API server serve ClusterNetworkPolicies and decide no verdict.
 */
export function scenarioYaml(objects: readonly K8sObject[]): string {
  return objects
    .filter((o) => o.kind !== 'CustomResourceDefinition')
    .map((o) => stringify(o))
    .join('---\n');
}

export function analyzeObjects(
  objects: readonly K8sObject[],
  probes: readonly PlanProbe[],
  externals: readonly string[],
  file = 'state.yaml',
): AnalyzeResult {
  const loaded = loadScenario(scenarioYaml(objects), file);
  if (!loaded.ok) throw new Error(`the state is not a valid scenario:\n  ${loaded.errors.join('\n  ')}`);
  return analyzeScenario(loaded.scenario, probes, externals);
}
