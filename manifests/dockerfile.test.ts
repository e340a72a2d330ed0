/**
 * The image, checked without building it (no Docker engine here): the Dockerfile is parsed and
 * held to its promises (Node LTS slim base, exec-form entrypoint equal to the DaemonSet's
 * command, no dev dependencies, both iptables backends), and the agent's sources are walked to
 * prove the files and packages the image carries are all it needs at run time.
 */
import * as fs from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import type { V1DaemonSet } from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import { readDockerfile, shellCommands, type DockerInstruction } from './testutil/dockerfile';
import { packageName, runtimeImports } from './testutil/imports';
import { findObject, kustomize, REPO_ROOT } from './testutil/render';

const dockerfile = readDockerfile(path.join(REPO_ROOT, 'manifests/Dockerfile'));
const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const final = dockerfile.final;
const finalRuns = final.instructions.filter((i) => i.keyword === 'RUN');
const finalCommands = finalRuns.flatMap((i) => shellCommands(i.text));
const workdir = final.instructions.filter((i) => i.keyword === 'WORKDIR').at(-1)?.args[0];
const INIT = ['/usr/bin/tini', '--'];
const CLI = 'dist/agent/cli/main.js';

/** The dist/ directories the final stage copies out of the build stage. */
const copiedDistDirs = final.instructions
  .filter((i) => i.keyword === 'COPY' && i.flags.from !== undefined)
  .map((i) => i.args[0]);

describe('Dockerfile', () => {
  test('every stage starts from a Node LTS slim image of the major the project pins', () => {
    const pinnedMajor = Number(pkg.dependencies.node.split('.')[0]);
    expect(pinnedMajor % 2).toBe(0); // even majors are the LTS lines
    for (const stage of dockerfile.stages) {
      const m = /^node:(\d+)-(bookworm|trixie)-slim(@sha256:[0-9a-f]{64})?$/.exec(stage.image);
      expect({ image: stage.image, ok: m !== null }).toEqual({ image: stage.image, ok: true });
      expect(Number(m?.[1])).toBe(pinnedMajor);
    }
  });

  test('has an exec-form ENTRYPOINT running `palisade agent` under tini', () => {
    expect(dockerfile.execEntrypoint).toEqual([
      ...INIT,
      'node',
      '--max-semi-space-size=16',
      `${workdir}/${CLI}`,
      'agent',
    ]);
  });

  test("the DaemonSet's command is the image's ENTRYPOINT", () => {
    const ds = findObject(kustomize('manifests'), 'DaemonSet', 'palisade') as unknown as V1DaemonSet;
    const agent = ds.spec?.template.spec?.containers.find((c) => c.name === 'agent');
    expect(agent?.command).toEqual(dockerfile.execEntrypoint);
  });

  test('the final stage installs production dependencies only, without install scripts', () => {
    const npmInstalls = finalCommands.filter((w) => w[0] === 'npm' && ['ci', 'install', 'i'].includes(w[1]));
    expect(npmInstalls.length).toBeGreaterThan(0);
    for (const words of npmInstalls) {
      expect(words[1]).toBe('ci'); // the lock file, exactly
      expect(words).toContain('--omit=dev');
      expect(words).toContain('--ignore-scripts');
    }
  });

  test('the final stage drops the `node` npm package (a second Node binary the image does not need)', () => {
    const removed = finalCommands.filter((w) => w[0] === 'rm').flatMap((w) => w.slice(1));
    expect(removed).toEqual(expect.arrayContaining(['node_modules/node', 'node_modules/.bin/node']));
    expect(pkg.dependencies.node).toBeDefined(); // if it ever leaves package.json, drop the rm too
  });

  test('the final stage copies only compiled output from the build stage, and no node_modules', () => {
    const copies = final.instructions.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD');
    for (const c of copies) {
      expect(c.args.slice(0, -1).some((src) => src === '.' || /node_modules/.test(src))).toBe(false);
      if (c.flags.from !== undefined) {
        expect(c.flags.from).toBe(dockerfile.stages[0].name);
        expect(c.args[0]).toMatch(/^\/src\/dist\/[a-z0-9]+$/);
      }
    }
    expect(copiedDistDirs.length).toBeGreaterThan(0);
  });

  test('the final stage installs iptables, ipset, conntrack and tcpdump from the distribution and checks both backends exist', () => {
    const aptInstall = finalCommands.find((w) => w[0] === 'apt-get' && w.includes('install'));
    expect(aptInstall).toEqual(expect.arrayContaining(['iptables', 'ipset', 'conntrack', 'tcpdump', 'tini']));
    const checked = new Set(finalRuns.flatMap((r: DockerInstruction) => r.text.split(/\s+/)));
    for (const family of ['iptables', 'ip6tables']) {
      for (const backend of ['nft', 'legacy']) {
        for (const suffix of ['', '-save', '-restore'])
          expect(checked).toContain(`${family}-${backend}${suffix}`);
      }
    }
    expect(checked).toContain('ipset');
    expect(checked).toContain('conntrack');
    // The verdict log reader (agent/daemon/verdicts/capture.ts) runs tcpdump by name.
    expect(checked).toContain('tcpdump');
  });

  test('puts `palisade` on PATH for kubectl exec', () => {
    const link = finalCommands.find((w) => w[0] === 'ln');
    expect(link).toEqual(['ln', '-s', `${workdir}/bin/palisade`, '/usr/local/bin/palisade']);
    const copied = final.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    expect(copied).toContainEqual(['bin/palisade', './bin/palisade']);
  });
});

describe('image contents', () => {
  const imports = runtimeImports(path.join(REPO_ROOT, 'agent/cli/main.ts'));
  const shipped = copiedDistDirs.map((d) => d.replace(/^\/src\/dist\//, ''));

  test('every module the agent loads is in a directory the image copies', () => {
    expect(imports.unresolved).toEqual([]);
    const outside = imports.files
      .map((f) => path.relative(REPO_ROOT, f))
      .filter((f) => !shipped.some((dir) => f.startsWith(`${dir}/`)));
    expect(outside).toEqual([]);
    // tsconfig.build.json leaves these out of dist/, so the image could not have them
    const unbuilt = imports.files.filter((f) => f.endsWith('.test.ts') || f.includes('/testutil/'));
    expect(unbuilt).toEqual([]);
  });

  test('every package the agent loads is a production dependency or a Node built-in', () => {
    const builtins = new Set(builtinModules);
    const missing = imports.packages
      .filter(({ specifier }) => !specifier.startsWith('node:') && !builtins.has(specifier))
      .filter(({ specifier }) => pkg.dependencies[packageName(specifier)] === undefined)
      .map(({ specifier, from }) => `${specifier} (from ${path.relative(REPO_ROOT, from)})`);
    expect(missing).toEqual([]);
  });

  test('the build context keeps local build output and modules out, and every COPY source in', () => {
    const ignored = fs
      .readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['.git', 'node_modules', 'dist']));
    const sources = dockerfile.stages
      .flatMap((s) => s.instructions)
      .filter((i) => i.keyword === 'COPY' && i.flags.from === undefined)
      .flatMap((i) => i.args.slice(0, -1))
      .filter((src) => src !== '.');
    expect(sources.length).toBeGreaterThan(0);
    for (const src of [...sources, 'tsconfig.json', 'tsconfig.build.json', ...shipped]) {
      expect({ src, ignored: ignored.some((p) => src === p || src.startsWith(`${p}/`)) }).toEqual({
        src,
        ignored: false,
      });
    }
  });
});
