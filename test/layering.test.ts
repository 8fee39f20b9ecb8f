// The source tree's layers, read from its import graph: src/core/ imports
// nothing of ours; envs/, replay/ and agents/ (the lower folders) import
// nothing of src/ but src/core/, and nothing of experiments/; and no module
// reaches itself through its imports. Every static import and re-export
// counts, type-only ones included (a type import still ties the two files'
// meanings together), and so does a dynamic import() of a literal path.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const sourceFolders = ['envs', 'replay', 'agents', 'src', 'experiments'];
const lowerFolders = ['envs/', 'replay/', 'agents/'];

/** Repository-relative paths ('/'-separated) of the .ts and .mjs files under the source folders. */
function sourceFiles(): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && entry.name !== 'build') walk(path);
      } else if (/\.(ts|mjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) {
        files.push(relative(root, path).split(sep).join('/'));
      }
    }
  };
  for (const folder of sourceFolders) walk(join(root, folder));
  return files.sort();
}

/** The file a relative specifier names: ESM source imports '.js' for the '.ts' beside it. */
function resolveSpecifier(from: string, specifier: string): string | undefined {
  const target = resolve(root, dirname(from), specifier);
  const candidates = [target, target.replace(/\.js$/, '.ts'), `${target}.ts`, join(target, 'index.ts')];
  const found = candidates.find((c) => statSync(c, { throwIfNoEntry: false })?.isFile());
  return found === undefined ? undefined : relative(root, found).split(sep).join('/');
}

interface ImportGraph {
  edges: Map<string, string[]>;
  unresolved: string[];
}

function importGraph(): ImportGraph {
  const edges = new Map<string, string[]>();
  const unresolved: string[] = [];
  for (const file of sourceFiles()) {
    const { importedFiles } = ts.preProcessFile(readFileSync(join(root, file), 'utf8'), true, true);
    const targets: string[] = [];
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue; // a package
      const target = resolveSpecifier(file, fileName);
      if (target === undefined) unresolved.push(`${file}: ${fileName}`);
      else if (!targets.includes(target)) targets.push(target);
    }
    edges.set(file, targets);
  }
  return { edges, unresolved };
}

/** One cycle per back edge a depth-first walk meets, each as its path of files back to its start. */
function findCycles(edges: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles: string[][] = [];
  const done = new Set<string>();
  const onPath = new Map<string, number>();
  const path: string[] = [];
  const visit = (file: string): void => {
    onPath.set(file, path.length);
    path.push(file);
    for (const next of edges.get(file) ?? []) {
      const at = onPath.get(next);
      if (at !== undefined) cycles.push([...path.slice(at), next]);
      else if (!done.has(next)) visit(next);
    }
    path.pop();
    onPath.delete(file);
    done.add(file);
  };
  for (const file of [...edges.keys()].sort()) if (!done.has(file)) visit(file);
  return cycles;
}

function importsInto(edges: ReadonlyMap<string, readonly string[]>, fromPrefixes: readonly string[], allowed: (target: string) => boolean): string[] {
  const found: string[] = [];
  for (const [file, targets] of edges) {
    if (!fromPrefixes.some((p) => file.startsWith(p))) continue;
    for (const target of targets) if (!allowed(target)) found.push(`${file} -> ${target}`);
  }
  return found;
}

describe('layers of the source tree', () => {
  const { edges, unresolved } = importGraph();

  it('reads every relative import of the tree as a file (a missed one would hide an edge)', () => {
    expect(edges.size).toBeGreaterThan(100);
    expect(edges.get('src/cli/main.ts')).toContain('src/cli/commands/sweep.ts');
    expect(edges.get('agents/tower/worker-entry.mjs')).toEqual(['agents/tower/worker.ts']);
    expect(unresolved).toEqual([]);
  });

  it('src/core/ imports nothing of ours outside itself', () => {
    expect(importsInto(edges, ['src/core/'], (target) => target.startsWith('src/core/'))).toEqual([]);
  });

  it('envs/, replay/ and agents/ import nothing of src/ but src/core/, and nothing of experiments/', () => {
    const upward = importsInto(
      edges,
      lowerFolders,
      (target) => !(target.startsWith('src/') || target.startsWith('experiments/')) || target.startsWith('src/core/'),
    );
    expect(upward).toEqual([]);
  });

  it('has no import cycle', () => {
    expect(findCycles(edges).map((cycle) => cycle.join(' -> '))).toEqual([]);
  });
});

describe('the cycle finder', () => {
  it('reports each cycle as the path back to its start, and none in a graph without one', () => {
    const graph = new Map([
      ['a', ['b']],
      ['b', ['c', 'd']],
      ['c', ['a']],
      ['d', ['d']],
      ['e', ['a']],
    ]);
    expect(findCycles(graph)).toEqual([['a', 'b', 'c', 'a'], ['d', 'd']]);
    expect(findCycles(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]]))).toEqual([]);
  });
});
