/** v1 Namespace validation: metadata (done by the caller), spec and status shapes. */
import { FieldErrors, type FieldPath } from './fields';

export function validateNamespaceBody(
  obj: Record<string, unknown>,
  path: FieldPath,
  errs: FieldErrors,
): void {
  const spec = errs.object(obj.spec, [...path, 'spec'], ['finalizers']);
  if (spec) errs.array(spec.finalizers, [...path, 'spec', 'finalizers']);
  const status = errs.object(obj.status, [...path, 'status'], ['phase', 'conditions']);
  if (status) {
    const phase = errs.string(status.phase, [...path, 'status', 'phase']);
    if (phase !== undefined && phase !== 'Active' && phase !== 'Terminating') {
      errs.add(
        [...path, 'status', 'phase'],
        `unsupported value ${JSON.stringify(phase)}: supported values: "Active", "Terminating"`,
      );
    }
  }
}
