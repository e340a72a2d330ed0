/**
 * Tests run the sandbox from TypeScript sources (ts-jest), but its endpoint processes are
 * separate Node processes that need JavaScript. This compiles an entry file and every file it
 * imports by relative path (transpile only, no type check) into
 * <repo>/.palisade-run/sandbox-js/<content hash>/, mirroring the repository layout, so npm
 * packages still resolve from <repo>/node_modules. Returns the compiled entry's path.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import * as ts from 'typescript';

const REPO = resolve(__dirname, '..', '..', '..');

function localImports(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from|import|require\()\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const base = resolve(dirname(file), m[1]);
    for (const candidate of [`${base}.ts`, join(base, 'index.ts')]) {
      if (existsSync(candidate)) {
        out.push(candidate);
        break;
      }
    }
  }
  return out;
}

export function transpileForChild(entry: string): string {
  const files = new Map<string, string>();
  const queue = [resolve(entry)];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    const text = readFileSync(file, 'utf8');
    files.set(file, text);
    queue.push(...localImports(file, text));
  }
  const hash = createHash('sha256');
  for (const [file, text] of [...files].sort()) hash.update(file).update('\0').update(text).update('\0');
  const outRoot = join(REPO, '.palisade-run', 'sandbox-js', hash.digest('hex').slice(0, 16));
  for (const [file, text] of files) {
    const out = join(outRoot, relative(REPO, file)).replace(/\.ts$/, '.js');
    if (existsSync(out)) continue;
    const js = ts.transpileModule(text, {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
        esModuleInterop: true,
      },
    }).outputText;
    mkdirSync(dirname(out), { recursive: true });
    // Write then rename: another test worker may be compiling the same files.
    writeFileSync(`${out}.${process.pid}`, js);
    renameSync(`${out}.${process.pid}`, out);
  }
  return join(outRoot, relative(REPO, resolve(entry))).replace(/\.ts$/, '.js');
}
