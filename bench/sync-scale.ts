/**
 * Sync cost against repository size: a first sync, a no-op sync, a sync after a timestamp-only
 * change and one after a one-target change, for repositories of N small targets, each against a
 * reference measured in the same run.
 *
 *   npm run bench:sync-scale                       # N = 1000, 10000, 50000, flat and hash-bin
 *   BENCH_SIZES=1000,5000 BENCH_VARIANTS=flat npm run bench:sync-scale
 *
 * The upstream is a TUF repository generated here (bench/scale-repo.ts: ed25519 keys, consistent
 * snapshots, 1 KiB targets; flat, or a succinct delegation to 256 hash bins) and served by nginx
 * from disk, so it costs the mirror's process nothing. Every sync is a real `tuf-mirror sync`
 * process (its start-up included, as for a CronJob); its wall time and peak RSS are measured from
 * outside (the RSS through a preload that reports its VmHWM at exit).
 * Every figure is the median of BENCH_ROUNDS runs (each first sync into an empty data dir, each
 * right after a reference run; each timestamp-only and one-target change published anew before
 * its run).
 *
 * References, all in this run:
 * - first sync: a client that downloads the same files over the same number of connections and
 *   checks nothing but each file's sha256 (the floor for any verifying client);
 * - no-op sync: the no-op sync of a repository of 10 targets (the cost must not grow with N);
 * - timestamp only and one target changed: the no-op sync at the same N. A flat repository's
 *   one-target change re-signs its top-level targets role, N entries that any client must
 *   download, parse and verify: that part grows with N by nature. A hash-bin repository's
 *   re-signs one bin.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, benchMain, findExecutable, fmt, fmtRatio, machineLine, median, mib, progress, runToEnd, startNginx, stop, table, tempDir, UsageError, envNumber } from './lib';
import { BIN_BITS, DiskRepository, type Variant } from './scale-repo';

const SIZES = (process.env.BENCH_SIZES ?? '1000,10000,50000').split(',').map((s) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`BENCH_SIZES: ${s} is not a positive integer`);
  return n;
});
const VARIANTS = (process.env.BENCH_VARIANTS ?? 'flat,hash-bin').split(',').map((v) => {
  if (v !== 'flat' && v !== 'hash-bin') throw new UsageError(`BENCH_VARIANTS: ${v} is not flat or hash-bin`);
  return v;
});
/** Connections of the reference client; the mirror gets the same through sync.downloadConcurrency. */
const CONCURRENCY = envNumber('BENCH_CONCURRENCY', 6, { integer: true, min: 1 });
const ROUNDS = envNumber('BENCH_ROUNDS', 3, { integer: true, min: 1 });

// ---------------------------------------------------------------------------------------------
// Measured runs

type Run = { seconds: number; rssBytes: number; requests: number };

/**
 * Writes the process's peak RSS to the file named by BENCH_RSS_FILE when it exits: VmHWM, the
 * high-water mark of its own memory. Not getrusage's maxrss: Linux carries that across exec from
 * the forked copy of this benchmark, which holds a whole generated repository.
 */
const RSS_PRELOAD = `
const fs = require('node:fs');
process.on('exit', () => {
  const kib = Number(/^VmHWM:\\s+(\\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);
  fs.writeFileSync(process.env.BENCH_RSS_FILE, String(kib * 1024));
});
`;

async function timedNode(name: string, args: string[], work: string, env: Record<string, string> = {}): Promise<{ run: Run; stdout: string }> {
  const rssFile = path.join(work, `${name}.rss`);
  const preload = path.join(work, 'rss-preload.js');
  if (!fs.existsSync(preload)) fs.writeFileSync(preload, RSS_PRELOAD);
  const started = process.hrtime.bigint();
  const r = await runToEnd(name, process.execPath, ['-r', preload, ...args], { ...process.env, ...env, BENCH_RSS_FILE: rssFile });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.code !== 0) throw new Error(`${name} exited ${String(r.code)}:\n${r.stdout}\n${r.stderr}`);
  // `tuf-mirror sync` says how many requests it made; the reference client prints how many files it got.
  const requests = Number(/(\d+) requests/.exec(r.stdout)?.[1] ?? r.stdout.trim());
  const run = { seconds, rssBytes: Number(fs.readFileSync(rssFile, 'utf8')), requests };
  progress(`  ${name}: ${fmt(seconds, 2)} s, ${mib(run.rssBytes)} MiB, ${requests} requests`);
  return { run, stdout: r.stdout };
}

/** The reference client: every file of the repository over CONCURRENCY keep-alive connections, sha256 each. */
const REFERENCE_CLIENT = `
const http = require('node:http');
const crypto = require('node:crypto');
const [base, listFile, concurrency] = process.argv.slice(2);
const files = require('node:fs').readFileSync(listFile, 'utf8').split('\\n').filter(Boolean);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(concurrency) });
const get = (p) => new Promise((resolve, reject) => {
  http.get(base + '/' + p, { agent }, (res) => {
    if (res.statusCode !== 200) return reject(new Error(p + ': HTTP ' + res.statusCode));
    const hash = crypto.createHash('sha256');
    res.on('data', (c) => hash.update(c));
    res.on('end', () => resolve(hash.digest('hex')));
    res.on('error', reject);
  }).on('error', reject);
});
let next = 0;
const worker = async () => { while (next < files.length) await get(files[next++]); };
Promise.all(Array.from({ length: Number(concurrency) }, worker)).then(() => { agent.destroy(); console.log(files.length); }, (e) => { console.error(e); process.exit(1); });
`;

function writeConfig(work: string, dataDir: string, upstream: string, anchor: string): string {
  const file = path.join(work, 'config.yaml');
  fs.writeFileSync(
    file,
    [
      `dataDir: ${dataDir}`,
      'sync:',
      '  onStart: false',
      `  downloadConcurrency: ${CONCURRENCY}`,
      'repositories:',
      '  - name: scale',
      `    upstream: ${upstream}`,
      `    trustAnchor: ${anchor}`,
      '    default: true',
      '',
    ].join('\n'),
  );
  return file;
}

type Row = { variant: Variant; size: number; reference: Run; first: Run; noop: Run; timestamp: Run; changed: Run; load: number };

async function measure(nginx: string, variant: Variant, size: number): Promise<Row> {
  const work = tempDir(`tuf-mirror-sync-scale-${variant}-${size}-`);
  progress(`${variant} N=${size}: generating the repository`);
  const repo = new DiskRepository(path.join(work, 'repo'), variant, size);
  const server = await startNginx(nginx, path.join(work, 'nginx'), repo.dir, '/timestamp.json', '1');
  try {
    // Reference: every file a first sync needs (all but the unversioned root.json), HTTP + sha256 only.
    const list = path.join(work, 'files.txt');
    const all = [...fs.readdirSync(repo.dir).filter((f) => f.endsWith('.json') && f !== 'root.json'), ...fs.readdirSync(path.join(repo.dir, 'targets')).map((f) => `targets/${f}`)];
    fs.writeFileSync(list, all.join('\n'));
    const clientFile = path.join(work, 'reference-client.js');
    fs.writeFileSync(clientFile, REFERENCE_CLIENT);
    let config = '';
    const sync = async (label: string): Promise<Run> => (await timedNode(label, [CLI, 'sync', '--config', config], work)).run;
    // Reference and first sync alternate, so that both see the same share of a busy machine.
    progress(`${variant} N=${size}: reference client and first sync, alternately`);
    const references: Run[] = [];
    const firsts: Run[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      references.push((await timedNode('reference', [clientFile, server.baseUrl, list, String(CONCURRENCY)], work)).run);
      fs.rmSync(path.join(work, `data-${round - 1}`), { recursive: true, force: true });
      config = writeConfig(work, path.join(work, `data-${round}`), server.baseUrl, repo.anchor);
      firsts.push(await sync('first'));
    }
    const [reference, first] = [summarize(references), summarize(firsts)];
    progress(`${variant} N=${size}: no-op, timestamp only, one target changed`);
    const noop = await rounds(() => sync('noop'));
    const timestamp = await rounds(() => {
      repo.renewTimestamp();
      return sync('timestamp');
    });
    const changed = await rounds(() => {
      repo.changeOne();
      return sync('changed');
    });
    return { variant, size, reference, first, noop, timestamp, changed, load: os.loadavg()[0] };
  } finally {
    await stop(server.proc);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** BENCH_ROUNDS runs, one after another. */
async function rounds(run: () => Promise<Run>): Promise<Run> {
  const runs: Run[] = [];
  for (let i = 0; i < ROUNDS; i++) runs.push(await run());
  return summarize(runs);
}

/** The median time, the highest RSS, the requests of the last run. */
function summarize(runs: Run[]): Run {
  return { seconds: median(runs.map((r) => r.seconds)), rssBytes: Math.max(...runs.map((r) => r.rssBytes)), requests: runs[runs.length - 1].requests };
}

benchMain(async () => {
  const nginx = findExecutable('nginx');
  if (!nginx) throw new UsageError('nginx not found (Debian: apt-get install nginx)');
  if (!fs.existsSync(CLI)) throw new UsageError(`${CLI} missing: run npm run build first`);

  const rows: Row[] = [];
  const small = new Map<Variant, Row>();
  for (const variant of VARIANTS) {
    // The reference for no-ops: the same variant at N = 10.
    small.set(variant, await measure(nginx, variant, 10));
    for (const size of SIZES) {
      rows.push(await measure(nginx, variant, size));
      progress(`so far:\n${report(rows, small)}`);
    }
  }
  process.stdout.write(report(rows, small));
});

function report(rows: Row[], small: Map<Variant, Row>): string {
  const lines = [
    `sync cost against repository size (${machineLine()}; load: the 1-minute load average as each row ended)`,
    `  ${CONCURRENCY} connections; 1 KiB targets; nginx upstream on loopback; medians of ${ROUNDS} runs`,
    '',
    table(
      ['variant', 'N', 'first s', 'ref s', 'first/ref', 'no-op s', 'no-op/no-op@10', 'ts only s', 'ts/no-op', 'changed s', 'changed/no-op', 'changed req', 'RSS first MiB', 'RSS no-op MiB', 'load'],
      rows.map((r) => {
        const s = small.get(r.variant);
        return [
          r.variant === 'hash-bin' ? `hash-bin (${2 ** BIN_BITS})` : 'flat',
          String(r.size),
          fmt(r.first.seconds, 2),
          fmt(r.reference.seconds, 2),
          fmtRatio(r.first.seconds / r.reference.seconds),
          fmt(r.noop.seconds, 2),
          s ? fmtRatio(r.noop.seconds / s.noop.seconds) : '-',
          fmt(r.timestamp.seconds, 2),
          fmtRatio(r.timestamp.seconds / r.noop.seconds),
          fmt(r.changed.seconds, 2),
          fmtRatio(r.changed.seconds / r.noop.seconds),
          String(r.changed.requests),
          mib(r.first.rssBytes),
          mib(Math.max(r.noop.rssBytes, r.timestamp.rssBytes)),
          fmt(r.load, 2),
        ];
      }),
      [false, true, true, true, true, true, true, true, true, true, true, true, true, true, true],
    ),
    '',
    'goals: first/ref <= 1.5x; no-op/no-op@10 <= 1.5x (flat); changed/no-op <= 2x',
    small.size ? `no-op@10: ${[...small].map(([v, r]) => `${v} ${fmt(r.noop.seconds, 2)} s (load ${fmt(r.load, 2)})`).join(', ')}` : '',
  ];
  return lines.join('\n') + '\n';
}
