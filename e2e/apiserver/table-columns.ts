/**
 * The building blocks of server-side printing: column definitions, the common NAME and AGE
 * columns, upstream's HumanDuration, and the printer shape each kind provides (table.ts for the
 * first three kinds, the kind's own file in kinds/ for the others).
 */
import type { KubeObject } from './types';

export interface TableColumn {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export interface KindPrinter {
  columns: TableColumn[];
  /** One cell per column: text and numbers, or null/boolean in a custom resource's columns. */
  cells(obj: KubeObject, now: Date): unknown[];
}

export const column = (
  name: string,
  description: string,
  priority = 0,
  type = 'string',
  format = '',
): TableColumn => ({
  name,
  type,
  format,
  description,
  priority,
});

export const NAME = column('Name', 'Name must be unique within a namespace.', 0, 'string', 'name');
export const AGE = column(
  'Age',
  'CreationTimestamp is a timestamp representing the server time when this object was created.',
);

/** k8s.io/apimachinery/pkg/util/duration.HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.floor(hours / 24) % 365;
    return dy === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${dy}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

export function age(obj: KubeObject, now: Date): string {
  const created = obj.metadata.creationTimestamp;
  return created ? humanDuration(now.getTime() - Date.parse(created)) : '<unknown>';
}
