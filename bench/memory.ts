/**
 * Memory: resident set size (RSS) of one tuf-mirror process holding the real public-good
 * repository (test/fixtures/sigstore-tuf-2026-08-21), idle and under the load of bench/serve.ts,
 * against references measured in the same run: the same process before it holds anything, a
 * bare `node` process, and nginx (master + workers) serving the same tree under the same load.
 *
 *   npm run bench:memory
 *
 * The mirror runs with the clock pinned to the fixture's date (bench/pin-date.ts) so its sync
 * accepts the fixture; it is filled through the admin API (POST …/sync) after the "empty"
 * reading, so both readings come from the one process. RSS is read from /proc/<pid>/status
 * every 250 ms; idle figures are medians over 3 s, load figures the median and the max.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { envValue } from '../lib/env';
import { startUpstreamServer } from '../testing/upstream-server';
import {
  benchMain,
  CLI,
  envNumber,
  findExecutable,
  FIXTURE,
  startNginx,
  fmtRatio,
  freePort,
  groupRss,
  launch,
  machineLine,
  median,
  mib,
  PIN_DATE,
  progress,
  request,
  rssOf,
  runWrk,
  sleep,
  stop,
  table,
  tempDir,
  UsageError,
  waitFor,
  wrkProblems,
  type Managed,
} from './lib';

const TOKEN = 'bench-admin-token-0123456789abcdef';
const FILES = ['/timestamp.json', '/targets/6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66.trusted_root.json'];

/** Sample `read` every 250 ms while `during` runs (or for `ms`). */
async function sample(read: () => number, during: Promise<unknown> | number): Promise<number[]> {
  const values: number[] = [read()];
  // Set when `until` settles, between the awaits: a property, so no narrowing takes it for constant.
  const state = { done: false };
  const until = typeof during === 'number' ? sleep(during) : during;
  void until.finally(() => (state.done = true));
  while (!state.done) {
    await Promise.race([sleep(250), until]);
    values.push(read());
  }
  return values;
}

async function run(): Promise<void> {
  const seconds = envNumber('BENCH_SECONDS', 10, { integer: true, min: 1 });
  const wrkOptions = {
    connections: envNumber('BENCH_CONNECTIONS', 64, { integer: true, min: 1 }),
    threads: envNumber('BENCH_THREADS', 2, { integer: true, min: 1 }),
    timeoutSeconds: envNumber('BENCH_TIMEOUT_SECONDS', 5, { integer: true, min: 1 }),
  };
  const wrk = findExecutable('wrk');
  const nginx = findExecutable(envValue('BENCH_NGINX') ?? 'nginx');
  if (!wrk || !nginx) {
    const missing = [!wrk && 'wrk', !nginx && 'nginx'].filter(Boolean);
    throw new UsageError(`missing: ${missing.join(', ')}\ninstall them with: apt-get update && apt-get install -y nginx wrk`);
  }
  if (!fs.existsSync(CLI)) throw new UsageError('dist/cli/main.js is missing: build first (npm run build)');

  const work = tempDir('tuf-mirror-bench-memory-');
  const upstream = await startUpstreamServer(FIXTURE);
  const port = await freePort();
  const config = path.join(work, 'tuf-mirror.yaml');
  fs.writeFileSync(
    config,
    JSON.stringify({
      dataDir: path.join(work, 'data'),
      server: { host: '127.0.0.1', port },
      adminToken: TOKEN,
      sync: { onStart: false },
      repositories: [{ name: 'sigstore', upstream: upstream.url, trustAnchor: path.join(FIXTURE, '1.root.json') }],
    }) + '\n',
  );
  const base = `http://127.0.0.1:${port}`;
  const rows: string[][] = [];
  const figures: Record<string, number> = {};
  const record = (proc: string, state: string, values: number[], key: string): void => {
    figures[key] = median(values);
    figures[`${key}Max`] = Math.max(...values);
    rows.push([proc, state, mib(median(values)), mib(Math.max(...values))]);
  };
  const wrkChecks: string[] = [];

  const loadWhileSampling = async (url: string, read: () => number, proc: Managed): Promise<number[]> => {
    const values: number[] = [];
    for (const f of FILES) {
      const load = runWrk(wrk, wrkOptions, url + f, seconds);
      values.push(...(await sample(read, load)));
      const result = await load;
      wrkChecks.push(...wrkProblems(result).map((p) => `${proc.name} ${f}: ${p}`));
      progress(`  ${proc.name} ${f}: ${Math.round(result.requestsPerSec)} req/s`);
      if (proc.hasExited()) throw new Error(`${proc.name} died under load`);
    }
    return values;
  };

  // A bare Node.js process: what any Node service costs before it does anything.
  const bare = launch('node (bare)', process.execPath, ['-e', 'setInterval(() => {}, 1000)'], path.join(work, 'bare.log'));
  await sleep(1500);
  record('node -e "setInterval(…)"', 'idle', await sample(() => rssOf(bare.pid), 3000), 'bare');
  await stop(bare);

  // tuf-mirror: empty, then holding the repository, then under load.
  const mirror = launch('tuf-mirror', process.execPath, ['-r', PIN_DATE, CLI, 'serve', '--config', config], path.join(work, 'tuf-mirror.log'), { ...process.env, TUF_MIRROR_LOG_LEVEL: 'warn' });
  await waitFor('/healthz', mirror, async () => (await request(`${base}/healthz`)).status === 200);
  await sleep(2000);
  progress('tuf-mirror: empty store, idle');
  record('tuf-mirror', 'started, nothing held (reference)', await sample(() => rssOf(mirror.pid), 3000), 'empty');

  const synced = await request(`${base}/api/v1/repositories/sigstore/sync`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, timeoutMs: 120_000 });
  const outcome = JSON.parse(synced.body.toString()) as { outcome?: string; generation?: number };
  if (synced.status !== 200 || outcome.outcome !== 'updated') throw new Error(`sync of the fixture failed: HTTP ${synced.status} ${synced.body.toString()}`);
  for (const f of FILES) {
    const res = await request(base + f);
    if (res.status !== 200 || !res.body.equals(fs.readFileSync(path.join(FIXTURE, f)))) throw new Error(`tuf-mirror does not serve ${f} as the fixture has it`);
  }
  await sleep(3000);
  progress('tuf-mirror: public-good held, idle');
  record('tuf-mirror', 'public-good held, idle', await sample(() => rssOf(mirror.pid), 3000), 'held');
  progress(`tuf-mirror: under load (wrk -c ${wrkOptions.connections}, ${seconds}s per file)`);
  record('tuf-mirror', `under load (2 files x ${seconds}s)`, await loadWhileSampling(base, () => rssOf(mirror.pid), mirror), 'load');
  await sleep(5000);
  record('tuf-mirror', 'idle again, 5s after the load', await sample(() => rssOf(mirror.pid), 3000), 'after');
  const hwmKb = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${mirror.pid}/status`, 'utf8'))?.[1];
  if (hwmKb === undefined) throw new Error(`no VmHWM line in /proc/${mirror.pid}/status`);
  const hwm = Number(hwmKb) * 1024;
  rows.push(['tuf-mirror', 'peak over its life (VmHWM)', mib(hwm), mib(hwm)]);
  await stop(mirror);
  await upstream.close();

  // nginx: the same tree from disk, master + workers.
  const { proc: ngx, baseUrl: nbase } = await startNginx(nginx, path.join(work, 'nginx'), FIXTURE, FILES[0]);
  await sleep(1000);
  const workers = spawnSync('nproc', { encoding: 'utf8' }).stdout.trim();
  record(`nginx (master + ${workers} workers)`, 'idle', await sample(() => groupRss(ngx.pid), 3000), 'nginxIdle');
  progress('nginx: under load');
  record(`nginx (master + ${workers} workers)`, `under load (2 files x ${seconds}s)`, await loadWhileSampling(nbase, () => groupRss(ngx.pid), ngx), 'nginxLoad');
  await stop(ngx);

  let out = `\nMemory (RSS, MiB): the public-good repository (test/fixtures/sigstore-tuf-2026-08-21, 47 files, 134 KB) held by one tuf-mirror process\n`;
  out += `  load: wrk -c ${wrkOptions.connections} -t ${wrkOptions.threads} -d ${seconds}s on timestamp.json, then on the trusted_root.json target; RSS sampled every 250 ms\n`;
  out += `  machine: ${machineLine()}\n\n`;
  out += table(['process', 'state', 'RSS median', 'RSS max'], rows, [false, false, true, true]);
  out += '\nratios\n';
  out += table(
    ['figure', 'ratio'],
    [
      ['tuf-mirror held idle / tuf-mirror before loading (same process)', fmtRatio(figures.held / figures.empty)],
      ['tuf-mirror max under load / tuf-mirror before loading', fmtRatio(figures.loadMax / figures.empty)],
      ['tuf-mirror held idle / bare node process', fmtRatio(figures.held / figures.bare)],
      ['tuf-mirror max under load / nginx max under the same load', fmtRatio(figures.loadMax / figures.nginxLoadMax)],
    ],
    [false, true],
  );
  out += `\nheld - empty = ${mib(figures.held - figures.empty)} MiB for the repository and the machinery that synced it; load adds ${mib(figures.loadMax - figures.held)} MiB at most (socket buffers, GC headroom).\n`;
  out += wrkChecks.length ? `wrk reported: ${wrkChecks.join('; ')}\n` : 'every wrk response 2xx, no socket errors.\n';
  process.stdout.write(out);
  if (wrkChecks.length) process.exitCode = 1;
}

if (require.main === module) benchMain(run);
