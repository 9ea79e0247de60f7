/**
 * @tufjs/models' (de)serialization of a targets role against the number of its targets, patched
 * (what we run: patches/@tufjs+models+4.1.1.patch) and as published, in the same run: the figures
 * of our report upstream.
 *
 *   npm run bench:tufjs-models                    # N = 1000, 5000, 10000
 *   BENCH_SIZES=1000,20000 npm run bench:tufjs-models
 *
 * The published version is rebuilt here by reversing our patch on a copy of the installed
 * package (under node_modules/.cache, so that it resolves the same dependencies). For each N it
 * times `Metadata.fromJSON('targets', …)` (what a client does to every targets role it loads)
 * and `signed.toJSON()` (what the signature check canonicalizes), median of BENCH_ROUNDS.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { JSONObject } from '@tufjs/models/dist/utils/types';
import { ROOT, UsageError, benchMain, envNumber, fmt, fmtRatio, machineLine, median, progress, table } from './lib';

type Models = typeof import('@tufjs/models');

// Both copies are loaded at run time, by name and by path: a static import would give one only.
const load = createRequire(__filename);
const PATCH = path.join(ROOT, 'patches', '@tufjs+models+4.1.1.patch');

function publishedCopy(): Models {
  const installed = path.dirname(require.resolve('@tufjs/models/package.json'));
  const copy = path.join(ROOT, 'node_modules', '.cache', 'tuf-mirror-bench', 'tufjs-models-published');
  fs.rmSync(copy, { recursive: true, force: true });
  fs.cpSync(installed, copy, { recursive: true });
  // The patch names node_modules/@tufjs/models/dist/…: -p4 leaves dist/… inside the copy.
  const reversed = spawnSync('patch', ['-R', '-p4', '-s', '-d', copy, '-i', PATCH], { encoding: 'utf8' });
  if (reversed.status !== 0) throw new UsageError(`patch -R of ${PATCH} failed (is the installed @tufjs/models patched?): ${reversed.stderr}${reversed.stdout}`);
  return load(copy) as Models;
}

function targetsJson(n: number): JSONObject {
  const targets: JSONObject = {};
  for (let i = 0; i < n; i++) {
    const hex = i.toString(16).padStart(64, '0');
    targets[`files/target-${i}.txt`] = { length: 1024, hashes: { sha256: hex } };
  }
  return { signatures: [], signed: { _type: 'targets', spec_version: '1.0.31', version: 1, expires: '2030-01-01T00:00:00Z', targets } };
}

function timeMs(fn: () => unknown, rounds: number): number {
  const runs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = performance.now();
    fn();
    runs.push(performance.now() - start);
  }
  return median(runs);
}

// Every measurement here is synchronous; benchMain takes the promise of a finished run.
benchMain(() => {
  const sizes = (process.env.BENCH_SIZES ?? '1000,5000,10000').split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`BENCH_SIZES: ${s} is not a positive integer`);
    return n;
  });
  const rounds = envNumber('BENCH_ROUNDS', 3, { integer: true, min: 1 });
  const patched = load('@tufjs/models') as Models;
  const published = publishedCopy();
  const rows: string[][] = [];
  for (const n of sizes) {
    progress(`N = ${n}`);
    const json = targetsJson(n);
    const figures = [patched, published].map((models) => {
      const parsed = models.Metadata.fromJSON(models.MetadataKind.Targets, json);
      if (Object.keys(parsed.signed.targets).length !== n) throw new Error(`parsed ${Object.keys(parsed.signed.targets).length} targets of ${n}`);
      return {
        parse: timeMs(() => models.Metadata.fromJSON(models.MetadataKind.Targets, json), rounds),
        serialize: timeMs(() => parsed.signed.toJSON(), rounds),
      };
    });
    const [ours, theirs] = figures;
    rows.push([
      String(n),
      fmt(theirs.parse, 1),
      fmt(ours.parse, 1),
      fmtRatio(theirs.parse / ours.parse),
      fmt(theirs.serialize, 1),
      fmt(ours.serialize, 1),
      fmtRatio(theirs.serialize / ours.serialize),
    ]);
  }
  process.stdout.write(`${machineLine()}\n@tufjs/models 4.1.1, targets role of N targets, median of ${rounds} (ms)\n`);
  process.stdout.write(
    table(['N', 'fromJSON published', 'fromJSON patched', 'published/patched', 'toJSON published', 'toJSON patched', 'published/patched'], rows, [true, true, true, true, true, true, true]),
  );
  return Promise.resolve();
});
