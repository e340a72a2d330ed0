/**
 * How a node turns a container spec into a process, as plain functions: the environment is
 * resolved in order (downward-API fields filled in, `$(VAR)` references expanded against the
 * variables defined before), then command and args are expanded the same way. The entrypoint
 * test uses this to start the image's entrypoint with exactly the DaemonSet's argv and env.
 */
import type { V1Container } from '@kubernetes/client-node' with { 'resolution-mode': 'import' };

/**
 * Kubernetes' dependent-variable expansion: `$(NAME)` becomes NAME's value when NAME is
 * defined, and stays as written when it is not; `$$` is an escaped `$`.
 */
export function expandVars(text: string, env: ReadonlyMap<string, string>): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const next = text[i + 1];
    if (c !== '$' || next === undefined) {
      out += c;
    } else if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = text.indexOf(')', i + 2);
      if (close < 0) return out + text.slice(i);
      const name = text.slice(i + 2, close);
      out += env.get(name) ?? `$(${name})`;
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

/**
 * The container's environment. `fieldValues` answers downward-API fieldRefs by fieldPath
 * (e.g. 'spec.nodeName'); any other source (secrets, config maps, resource fields) throws,
 * so a manifest change the caller cannot reproduce is noticed rather than ignored.
 */
export function resolveEnv(
  container: V1Container,
  fieldValues: Readonly<Record<string, string>>,
): Map<string, string> {
  const env = new Map<string, string>();
  for (const v of container.env ?? []) {
    if (v.valueFrom === undefined) {
      env.set(v.name, expandVars(v.value ?? '', env));
      continue;
    }
    const fieldPath = v.valueFrom.fieldRef?.fieldPath;
    const value = fieldPath === undefined ? undefined : fieldValues[fieldPath];
    if (value === undefined) {
      throw new Error(
        `env ${v.name}: source ${JSON.stringify(v.valueFrom)} is not one this test can provide`,
      );
    }
    env.set(v.name, value);
  }
  return env;
}

/** command ++ args, each expanded against the container's environment. */
export function containerArgv(container: V1Container, env: ReadonlyMap<string, string>): string[] {
  return [...(container.command ?? []), ...(container.args ?? [])].map((a) => expandVars(a, env));
}

/**
 * Rewrites each path prefix `from` (matched only at a path boundary) to `to` in `value`:
 * '/run/palisade/x.sock' with {'/run/palisade': '/tmp/t'} -> '/tmp/t/x.sock'.
 */
export function rewritePaths(value: string, map: ReadonlyMap<string, string>): string {
  let out = value;
  for (const [from, to] of map) {
    const escaped = from.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    out = out.replace(new RegExp(`${escaped}(?=/|$|[^\\w.-])`, 'g'), to);
  }
  return out;
}

/**
 * The image's argv as a process on this machine: without the init wrapper (`initPrefix`, e.g.
 * ['/usr/bin/tini', '--']), with 'node' replaced by `nodeBinary` and image paths rewritten.
 */
export function hostArgv(
  argv: readonly string[],
  opts: { initPrefix: readonly string[]; nodeBinary: string; paths: ReadonlyMap<string, string> },
): string[] {
  const hasInit = opts.initPrefix.every((word, i) => argv[i] === word);
  const rest = hasInit ? argv.slice(opts.initPrefix.length) : [...argv];
  if (rest[0] !== 'node') throw new Error(`expected the program to be node, got ${rest[0]}`);
  return [opts.nodeBinary, ...rest.slice(1).map((a) => rewritePaths(a, opts.paths))];
}
