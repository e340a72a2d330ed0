/**
 * The modules a program loads at run time, found by walking its TypeScript sources from an
 * entry file: relative imports are followed, package imports are collected. Type-only imports
 * and exports are skipped (the compiler erases them). Used to check that the image carries
 * every file and package the agent needs, and no more than the production dependencies.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

export interface RuntimeImports {
  /** Absolute paths of the .ts files reached from the entry. */
  files: string[];
  /** Bare specifiers ('yaml', 'node:fs', '@kubernetes/client-node/x') with the file importing each. */
  packages: { specifier: string; from: string }[];
  /** Relative specifiers that matched no file. */
  unresolved: { specifier: string; from: string }[];
}

export function runtimeImports(entry: string): RuntimeImports {
  const seen = new Set<string>();
  const packages: RuntimeImports['packages'] = [];
  const unresolved: RuntimeImports['unresolved'] = [];
  const queue = [path.resolve(entry)];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const specifier of moduleSpecifiers(file)) {
      if (!specifier.startsWith('.')) {
        packages.push({ specifier, from: file });
        continue;
      }
      const target = resolveRelative(path.dirname(file), specifier);
      if (target === undefined) unresolved.push({ specifier, from: file });
      else queue.push(target);
    }
  }
  return { files: [...seen].sort(), packages, unresolved };
}

/** The package a bare specifier names: '@scope/name/sub' -> '@scope/name', 'yaml/x' -> 'yaml'. */
export function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

function resolveRelative(dir: string, specifier: string): string | undefined {
  const base = path.resolve(dir, specifier);
  const candidates = [`${base}.ts`, path.join(base, 'index.ts'), base.replace(/\.js$/, '.ts')];
  return candidates.find((c) => c.endsWith('.ts') && fs.existsSync(c));
}

/** Specifiers of the value imports, value re-exports, import() and require() calls of one file. */
function moduleSpecifiers(file: string): string[] {
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      if (!node.importClause?.isTypeOnly) found.push(node.moduleSpecifier.text);
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      if (!node.isTypeOnly) found.push(node.moduleSpecifier.text);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const expr = node.moduleReference.expression;
      if (!node.isTypeOnly && ts.isStringLiteral(expr)) found.push(expr.text);
    } else if (
      ts.isCallExpression(node) &&
      node.arguments.length > 0 &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      const isImport = node.expression.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(node.expression) && node.expression.text === 'require';
      if (isImport || isRequire) found.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}
