/**
 * Label and field selectors with the syntax and semantics of k8s.io/apimachinery's labels.Parse and
 * fields.ParseSelector. A parsed selector is plain data; matching is a pure function of it and a map of
 * strings, so the same parsed selector filters lists and watch events (old and new object alike).
 *
 * Label syntax: comma-separated requirements `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`,
 * `k` (exists), `!k` (does not exist), `k>1`, `k<1` (integer comparison). `!=` and `notin` also match
 * objects without the label, as upstream.
 * Field syntax: comma-separated `f=v`, `f==v`, `f!=v`, with `\,` `\=` `\\` escapes in values.
 */
import { ApiError, errors } from './errors';

export type LabelOperator = 'in' | 'notin' | 'exists' | '!' | 'gt' | 'lt';

export interface LabelRequirement {
  key: string;
  operator: LabelOperator;
  values: string[];
}

export type LabelSelector = LabelRequirement[];

export interface FieldRequirement {
  field: string;
  operator: '=' | '!=';
  value: string;
}

export type FieldSelector = FieldRequirement[];

const NAME_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why `key` is not a valid label key (a qualified name), or undefined when it is. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return `prefix part of "${key}" must be a lowercase RFC 1123 subdomain`;
  }
  if (name.length === 0 || name.length > 63 || !NAME_PART.test(name)) {
    return `name part of "${key}" must consist of alphanumeric characters, '-', '_' or '.', start and end with an alphanumeric character, and be at most 63 characters`;
  }
  return undefined;
}

/** Why `value` is not a valid label value, or undefined when it is. */
export function labelValueProblem(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > 63 || !NAME_PART.test(value)) {
    return `"${value}" must be 63 characters or less, and consist of alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character`;
  }
  return undefined;
}

type Token =
  | { kind: 'id'; text: string }
  | { kind: 'op'; text: '!' | '=' | '==' | '!=' | '(' | ')' | ',' | '<' | '>' }
  | { kind: 'end' };

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === '!' || c === '=') {
      if (input[i + 1] === '=') {
        tokens.push({ kind: 'op', text: c === '!' ? '!=' : '==' });
        i += 2;
      } else {
        tokens.push({ kind: 'op', text: c });
        i++;
      }
    } else if (c === '(' || c === ')' || c === ',' || c === '<' || c === '>') {
      tokens.push({ kind: 'op', text: c });
      i++;
    } else {
      let j = i;
      while (j < input.length && !' \t\n\r!=(),<>'.includes(input[j])) j++;
      tokens.push({ kind: 'id', text: input.slice(i, j) });
      i = j;
    }
  }
  tokens.push({ kind: 'end' });
  return tokens;
}

function labelParseError(input: string, why: string): ApiError {
  return errors.badRequest(`unable to parse requirement: ${why} (selector "${input}")`);
}

/** Parses a label selector string; an empty string selects everything. Throws a 400 ApiError. */
export function parseLabelSelector(input: string): LabelSelector {
  const tokens = tokenize(input);
  let pos = 0;
  const peek = () => tokens[pos];
  const next = () => tokens[pos++];
  const requirements: LabelRequirement[] = [];
  if (peek().kind === 'end') return requirements;

  const value = (): string => {
    const t = peek();
    if (t.kind === 'id') {
      pos++;
      return t.text;
    }
    return ''; // `k=` selects the empty value, as upstream
  };
  const valueSet = (): string[] => {
    const open = next();
    if (open.kind !== 'op' || open.text !== '(')
      throw labelParseError(input, `found '${show(open)}', expected: '('`);
    const values: string[] = [];
    const close = peek();
    if (close.kind === 'op' && close.text === ')') {
      pos++;
      return values;
    }
    for (;;) {
      values.push(value());
      const t = next();
      if (t.kind === 'op' && t.text === ')') break;
      if (!(t.kind === 'op' && t.text === ','))
        throw labelParseError(input, `found '${show(t)}', expected: ',' or ')'`);
    }
    return values;
  };

  for (;;) {
    let negated = false;
    if (peek().kind === 'op' && (peek() as { text: string }).text === '!') {
      negated = true;
      pos++;
    }
    const keyToken = next();
    if (keyToken.kind !== 'id')
      throw labelParseError(input, `found '${show(keyToken)}', expected: identifier`);
    const key = keyToken.text;
    const keyProblem = labelKeyProblem(key);
    if (keyProblem) throw labelParseError(input, keyProblem);
    let requirement: LabelRequirement;
    const t = peek();
    if (negated) {
      requirement = { key, operator: '!', values: [] };
    } else if (t.kind === 'end' || (t.kind === 'op' && t.text === ',')) {
      requirement = { key, operator: 'exists', values: [] };
    } else if (t.kind === 'op' && (t.text === '=' || t.text === '==' || t.text === '!=')) {
      pos++;
      requirement = { key, operator: t.text === '!=' ? 'notin' : 'in', values: [value()] };
    } else if (t.kind === 'op' && (t.text === '<' || t.text === '>')) {
      pos++;
      const v = value();
      if (!/^-?\d+$/.test(v))
        throw labelParseError(input, `for 'Gt', 'Lt' operators, the value must be an integer`);
      requirement = { key, operator: t.text === '>' ? 'gt' : 'lt', values: [v] };
    } else if (t.kind === 'id' && (t.text === 'in' || t.text === 'notin')) {
      pos++;
      const values = valueSet();
      if (values.length === 0) {
        throw labelParseError(input, `for 'in', 'notin' operators, values set can't be empty`);
      }
      requirement = { key, operator: t.text, values };
    } else {
      throw labelParseError(input, `found '${show(t)}', expected: in, notin, =, ==, !=, gt, lt`);
    }
    for (const v of requirement.values) {
      const problem =
        requirement.operator === 'gt' || requirement.operator === 'lt' ? undefined : labelValueProblem(v);
      if (problem) throw labelParseError(input, problem);
    }
    requirements.push(requirement);
    const sep = next();
    if (sep.kind === 'end') return requirements;
    if (!(sep.kind === 'op' && sep.text === ','))
      throw labelParseError(input, `found '${show(sep)}', expected: ','`);
  }
}

function show(t: Token): string {
  return t.kind === 'end' ? '' : t.text;
}

export function labelsMatch(selector: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return selector.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    switch (r.operator) {
      case 'in':
        return has && r.values.includes(l[r.key]);
      case 'notin':
        return !has || !r.values.includes(l[r.key]);
      case 'exists':
        return has;
      case '!':
        return !has;
      case 'gt':
      case 'lt': {
        if (!has || !/^-?\d+$/.test(l[r.key])) return false;
        const actual = Number(l[r.key]);
        const bound = Number(r.values[0]);
        return r.operator === 'gt' ? actual > bound : actual < bound;
      }
    }
  });
}

function splitUnescaped(input: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < input.length; i++) {
    if (input[i] === '\\' && i + 1 < input.length) {
      current += input[i] + input[i + 1];
      i++;
    } else if (input[i] === separator) {
      parts.push(current);
      current = '';
    } else {
      current += input[i];
    }
  }
  parts.push(current);
  return parts;
}

function unescapeFieldValue(raw: string, term: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === '\\') {
      const c = raw[i + 1];
      if (c !== '\\' && c !== ',' && c !== '=')
        throw errors.badRequest(`invalid field selector: '${term}': invalid escape sequence`);
      out += c;
      i++;
    } else if (raw[i] === ',' || raw[i] === '=') {
      throw errors.badRequest(`invalid field selector: '${term}': unescaped ${raw[i]}`);
    } else {
      out += raw[i];
    }
  }
  return out;
}

/**
 * Parses a field selector. `supported` lists the fields this resource can be selected by; anything else
 * is a 400 "field label not supported", as upstream.
 */
export function parseFieldSelector(input: string, supported: readonly string[]): FieldSelector {
  if (input.trim() === '') return [];
  return splitUnescaped(input, ',').map((term) => {
    for (let i = 0; i < term.length; i++) {
      if (term[i] === '\\') {
        i++;
        continue;
      }
      for (const op of ['!=', '==', '='] as const) {
        if (term.startsWith(op, i)) {
          const field = term.slice(0, i).trim();
          const value = unescapeFieldValue(term.slice(i + op.length), term);
          if (!supported.includes(field)) throw errors.badRequest(`field label not supported: ${field}`);
          return { field, operator: op === '!=' ? '!=' : '=', value };
        }
      }
    }
    throw errors.badRequest(`invalid selector: '${input}'; can't understand '${term}'`);
  });
}

export function fieldsMatch(selector: FieldSelector, fields: Record<string, string>): boolean {
  return selector.every((r) => ((fields[r.field] ?? '') === r.value) === (r.operator === '='));
}
