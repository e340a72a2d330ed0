/** What the CLI reads of a sandbox's state: the store and the process check. */
export { StateStore } from './state';
export type { SandboxState } from './state';
export { isRunning } from './processes';
