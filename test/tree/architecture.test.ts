// The import graph of the product folders, computed from the TypeScript sources: no cycle between
// files or folders, and every import runs down the layer order below (the README's Development section
// points here). A folder may import its own files and any folder in a lower layer; folders in one
// layer are siblings and never import each other.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';

/** Bottom to top. Adding a folder means placing it here. */
export const LAYERS: readonly (readonly string[])[] = [
  ['lib'], // pure helpers and format parsers (trusted_root, TUF metadata, layout, hashes, logging)
  ['config', 'store'], // the configuration; the database and what it records
  ['compat'], // what each consumer accepts: a pure gate over parsed trust material
  ['sync', 'watch', 'trust', 'verifier', 'publish'], // each reads the store, none another's internals
  ['origin'], // signs a repository here, then publishes it through sync's verifying path
  ['bridge', 'refresh'], // bridge re-signs through origin; refresh applies trust's outputs to a cluster
  ['daemon'], // what `serve` keeps running: schedules, reloads, watches, re-signing, bridges
  ['server'], // HTTP only: the fast path, the app and its routers, the listeners
  ['cli'], // commands
  ['scripts'], // release and demo scripts
  ['testing'], // harnesses the tests and the benchmarks both start (a signed TUF repository, servers, stubs)
  ['bench', 'test'], // benchmarks and tests: neither imports the other
];

const root = path.resolve(__dirname, '..', '..', '..');
const layerOf = new Map(LAYERS.flatMap((folders, i) => folders.map((f) => [f, i] as const)));

function sourcesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'fixtures' && entry.name !== 'node_modules') out.push(...sourcesUnder(p));
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Every relative import, export-from, import() and require() of each file, resolved to a file. */
function importGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const folder of LAYERS.flat()) {
    const dir = path.join(root, folder);
    if (!fs.existsSync(dir)) continue;
    for (const file of sourcesUnder(dir)) {
      const info = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
      const targets = new Set<string>();
      for (const { fileName } of info.importedFiles) {
        if (!fileName.startsWith('.')) continue;
        const base = path.resolve(path.dirname(file), fileName);
        const found = [`${base}.ts`, path.join(base, 'index.ts'), base].find((p) => fs.existsSync(p) && fs.statSync(p).isFile());
        if (found) targets.add(path.relative(root, found));
      }
      graph.set(path.relative(root, file), targets);
    }
  }
  return graph;
}

const topFolder = (file: string): string => file.split(path.sep)[0];

/** Strongly connected components with more than one member (Tarjan). */
function cycles(graph: Map<string, Set<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w === undefined) break;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

const graph = importGraph();
const folderGraph = new Map<string, Set<string>>();
for (const [file, targets] of graph) {
  const from = topFolder(file);
  for (const target of targets) {
    const to = topFolder(target);
    if (from === to) continue;
    if (!folderGraph.has(from)) folderGraph.set(from, new Set());
    folderGraph.get(from)?.add(to);
  }
}

test('architecture: every top-level folder with TypeScript sources has a layer', () => {
  const skip = new Set(['node_modules', 'dist', 'data', 'patches', 'deploy']);
  const folders = fs
    .readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.') && !skip.has(e.name))
    .filter((e) => sourcesUnder(path.join(root, e.name)).length > 0)
    .map((e) => e.name);
  assert.deepEqual(
    folders.filter((f) => !layerOf.has(f)),
    [],
    'place each of these folders in LAYERS (test/architecture.test.ts)',
  );
});

test('architecture: no file imports itself back through others', () => {
  assert.deepEqual(cycles(graph), []);
});

test('architecture: no folder imports itself back through others', () => {
  assert.deepEqual(cycles(folderGraph), []);
});

test('architecture: every import between folders runs down the layer order', () => {
  const upward: string[] = [];
  for (const [file, targets] of graph) {
    const from = topFolder(file);
    for (const target of targets) {
      const to = topFolder(target);
      if (from === to) continue;
      const [a, b] = [layerOf.get(from), layerOf.get(to)];
      if (a === undefined || b === undefined || b >= a) upward.push(`${file} -> ${target} (${from} is layer ${String(a)}, ${to} is layer ${String(b)})`);
    }
  }
  assert.deepEqual(upward, []);
});
