/** The `-o/--output` option every command that prints data offers, and JSON printing. */
import { Option } from 'commander';

export type OutputFormat = 'table' | 'json';

export function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table');
}

/** Stable, indented JSON with a final newline. */
export function toJSON(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
