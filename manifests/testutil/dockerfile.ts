/**
 * A Dockerfile as plain data, for static checks: its stages (base image with build ARGs
 * substituted, instructions in order) and the final stage's exec-form ENTRYPOINT. Parsing is
 * dockerfile-ast's (line continuations, flags, JSON forms), so the checks read what Docker reads.
 */
import * as fs from 'node:fs';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';

export interface DockerInstruction {
  /** Upper-case keyword: RUN, COPY, ENTRYPOINT, ... */
  keyword: string;
  /** Arguments with continuation lines joined, flags excluded. */
  args: string[];
  /** Flags such as --from=build, as name -> value. */
  flags: Record<string, string>;
  /** The argument text with continuation lines joined. */
  text: string;
}

export interface DockerStage {
  /** The AS name, if any. */
  name: string | undefined;
  /** Base image with ARG defaults substituted. */
  image: string;
  instructions: DockerInstruction[];
}

export interface DockerfileModel {
  stages: DockerStage[];
  /** The last stage: what the image is. */
  final: DockerStage;
  /** The final stage's ENTRYPOINT when in exec (JSON) form; undefined when absent or shell form. */
  execEntrypoint: string[] | undefined;
}

export function readDockerfile(file: string): DockerfileModel {
  const dockerfile = DockerfileParser.parse(fs.readFileSync(file, 'utf8'));
  const buildArgs = new Map<string, string>();
  for (const arg of dockerfile.getInitialARGs()) {
    const property = arg.getProperty();
    if (property) buildArgs.set(property.getName(), property.getValue() ?? '');
  }
  const substitute = (text: string): string =>
    text.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced?: string, bare?: string) => {
      const name = braced ?? bare ?? '';
      return buildArgs.get(name) ?? whole;
    });

  const stages: DockerStage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    const keyword = instruction.getKeyword().toUpperCase();
    if (keyword === 'FROM') {
      const [image, as, name] = instruction.getArguments().map((a) => a.getValue());
      stages.push({
        image: substitute(image),
        name: as?.toUpperCase() === 'AS' ? name : undefined,
        instructions: [],
      });
      continue;
    }
    const stage = stages.at(-1);
    if (stage) stage.instructions.push(toInstruction(instruction, keyword));
  }
  const final = stages.at(-1);
  if (!final) throw new Error(`${file}: no FROM`);

  const entrypoint = final.instructions.filter((i) => i.keyword === 'ENTRYPOINT').at(-1);
  return { stages, final, execEntrypoint: entrypoint ? execForm(entrypoint.text) : undefined };
}

function toInstruction(instruction: Instruction, keyword: string): DockerInstruction {
  const flags: Record<string, string> = {};
  const withFlags = instruction as Instruction & {
    getFlags?: () => { getName(): string; getValue(): string | null }[];
  };
  for (const flag of withFlags.getFlags?.() ?? []) flags[flag.getName()] = flag.getValue() ?? '';
  return {
    keyword,
    args: instruction.getArguments().map((a) => a.getValue()),
    flags,
    text: instruction.getArgumentsContent() ?? '',
  };
}

/** The argv of an exec-form (JSON array of strings) instruction; undefined for shell form. */
export function execForm(text: string): string[] | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    if (Array.isArray(parsed) && parsed.length > 0 && parsed.every((s) => typeof s === 'string'))
      return parsed;
  } catch {
    // not JSON: shell form
  }
  return undefined;
}

/**
 * Splits a RUN's shell text into its simple commands (on &&, ||, ;, |), each as words, with
 * leading VAR=value assignments dropped: `A=1 apt-get install x` -> ['apt-get', 'install', 'x'].
 * Enough to find which programs a RUN invokes; not a shell parser.
 */
export function shellCommands(text: string): string[][] {
  return text
    .split(/&&|\|\||;|\|/)
    .map((part) => {
      const words = part.trim().split(/\s+/).filter(Boolean);
      while (words.length > 0 && /^[A-Za-z_]\w*=/.test(words[0])) words.shift();
      return words;
    })
    .filter((words) => words.length > 0);
}
