/**
 * Every `palisade` subcommand: one file per command under commands/, each exporting
 * `register(program: Command): void`. To add a command, add one line here.
 */
export { register as analyze } from './analyze';
export { register as explain } from './explain';
export { register as agent } from './agent';
export { register as cleanup } from './cleanup';
export { register as sandbox } from './sandbox';
export { register as status } from './status';
export { register as rules } from './rules';
export { register as diff } from './diff';
export { register as ipsets } from './ipsets';
export { register as chains } from './chains';
export { register as probe } from './probe';
export { register as watch } from './watch';
export { register as soak } from './soak';
