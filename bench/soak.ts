/**
 * Compressed soak: one tuf-mirror process syncing every 2 s (a year of 30-minute refreshes is
 * ~17,500 syncs; an hour of this is 1,800) from an upstream that re-signs its timestamp every
 * sync, changes a target every 5th, and rotates root keys every minute, while TUF clients
 * refresh through it from root v1. Retention prunes old generations as it goes.
 * It samples the process's RSS and open file descriptors (/proc/<pid>/status, /proc/<pid>/fd),
 * the V8 heap (from /metrics) and the store's size, and prints first/last/max, the slope per hour
 * and last/first ratios. Flat = pass: the maxima of the last third of the run are no higher than
 * those of the middle third (plus 5% and 2 MiB of RSS, 2 descriptors); exit 1 otherwise.
 *
 *   npm run bench:soak                      # 5 minutes
 *   SOAK_SECONDS=3600 npm run bench:soak    # the hour-long run
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Updater } from 'tuf-js';
import { TestRepository } from '../testing/tuf-repo';
import { startUpstreamServer } from '../testing/upstream-server';
import { benchMain, CLI, envNumber, fdCount, FIXTURE, fmt, fmtRatio, freePort, launch, machineLine, mib, progress, request, rssOf, sleep, slope, table, tempDir, UsageError, waitFor } from './lib';

type Sample = { t: number; rss: number; fds: number; heap: number; heapTotal: number; db: number; generation: number };

function metric(text: string, name: string, labels = ''): number[] {
  const re = new RegExp(`^${name}${labels ? `\\{[^}]*${labels}[^}]*\\}` : '(?:\\{[^}]*\\})?'} ([0-9.e+-]+)$`, 'gm');
  return [...text.matchAll(re)].map((m) => Number(m[1]));
}

async function run(): Promise<void> {
  const seconds = envNumber('SOAK_SECONDS', 300, { integer: true, min: 30 });
  const syncEvery = envNumber('SOAK_SYNC_SECONDS', 2, { integer: true, min: 1 });
  const rotateEvery = envNumber('SOAK_ROTATE_SECONDS', 60, { integer: true, min: 5 });
  const sampleEvery = envNumber('SOAK_SAMPLE_SECONDS', 5, { integer: true, min: 1 });
  const warmup = envNumber('SOAK_WARMUP_SECONDS', 30, { integer: true, min: 0 });
  const clients = envNumber('SOAK_CLIENTS', 2, { integer: true, min: 0 });
  const kept = envNumber('SOAK_KEPT_GENERATIONS', 50, { integer: true, min: 1 });
  if (60 % syncEvery !== 0) throw new UsageError('SOAK_SYNC_SECONDS must divide 60 (it becomes the cron seconds field */N)');
  if (warmup >= seconds / 2) throw new UsageError('SOAK_WARMUP_SECONDS must be under half of SOAK_SECONDS');
  if (!fs.existsSync(CLI)) throw new UsageError('dist/cli/main.js is missing: build first (npm run build)');

  const trustedRoot = fs.readFileSync(path.join(FIXTURE, 'targets', '6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66.trusted_root.json'));
  const repo = new TestRepository({ keyType: 'ecdsa' });
  repo.addDelegation('registry.npmjs.org', { paths: ['registry.npmjs.org/*'] });
  repo.addTarget('registry.npmjs.org/keys.json', '{"keys":[]}\n', { role: 'registry.npmjs.org' });
  repo.addTarget('trusted_root.json', trustedRoot);
  repo.publish();
  const upstream = await startUpstreamServer(() => repo.files());

  const work = tempDir('tuf-mirror-bench-soak-');
  const dataDir = path.join(work, 'data');
  const anchor = path.join(work, 'anchor.root.json');
  fs.writeFileSync(anchor, repo.rootBytes(1));
  const port = await freePort();
  const config = path.join(work, 'tuf-mirror.yaml');
  fs.writeFileSync(
    config,
    JSON.stringify({
      dataDir,
      server: { host: '127.0.0.1', port },
      sync: { onStart: true, schedule: `*/${syncEvery} * * * * *`, jitterSeconds: 0, retries: 0, requestTimeoutSeconds: 10 },
      retention: { servedGenerations: 5, keptGenerations: kept },
      alerts: { evaluateEverySeconds: 10 },
      repositories: [{ name: 'sigstore', upstream: upstream.url, trustAnchor: anchor }],
    }) + '\n',
  );
  const base = `http://127.0.0.1:${port}`;
  const mirror = launch('tuf-mirror', process.execPath, [CLI, 'serve', '--config', config], path.join(work, 'tuf-mirror.log'), { ...process.env, TUF_MIRROR_LOG_LEVEL: 'warn' });
  await waitFor('readiness', mirror, async () => (await request(`${base}/readyz`)).status === 200);
  progress(`tuf-mirror ready on ${base}; soaking for ${seconds}s: sync every ${syncEvery}s, root rotation every ${rotateEvery}s, ${clients} TUF clients`);

  // The upstream: re-signs every sync period, a new target every 5th, a root rotation every rotateEvery.
  let ticks = 0;
  let rotations = 0;
  let lastRotation = Date.now();
  const ticker = setInterval(() => {
    ticks++;
    if (Date.now() - lastRotation >= rotateEvery * 1000) {
      lastRotation = Date.now();
      rotations++;
      // Alternate: new root, timestamp and snapshot keys; then new targets keys and a 2-of-3 root.
      repo.rotateRoot(
        rotations % 2
          ? { replaceKeys: ['root', 'timestamp', 'snapshot'], newThreshold: { root: 1 }, keyCount: { root: 1 } }
          : { replaceKeys: ['targets'], newThreshold: { root: 2 }, keyCount: { root: 3 } },
      );
    } else if (ticks % 5 === 0) {
      repo.addTarget('trusted_root.json', Buffer.concat([trustedRoot, Buffer.from(`\n${ticks}\n`)]));
      repo.publish();
    } else {
      repo.bumpTimestamp();
    }
  }, syncEvery * 1000);

  // TUF clients from root v1, through the whole chain, refreshing all the time.
  let stopped = false;
  const clientStats = { ok: 0, failed: 0, errors: new Map<string, number>() };
  const client = async (): Promise<void> => {
    while (!stopped) {
      const dir = fs.mkdtempSync(path.join(work, 'client-'));
      try {
        fs.writeFileSync(path.join(dir, 'root.json'), repo.rootBytes(1));
        const updater = new Updater({ metadataDir: dir, metadataBaseUrl: base, targetBaseUrl: `${base}/targets`, targetDir: dir });
        await updater.refresh();
        const info = await updater.getTargetInfo('trusted_root.json');
        if (!info) throw new Error('trusted_root.json not found');
        await updater.downloadTarget(info, path.join(dir, 'trusted_root.json'));
        clientStats.ok++;
      } catch (err) {
        clientStats.failed++;
        const m = (err as Error).message.replace(/\d+/g, 'N');
        clientStats.errors.set(m, (clientStats.errors.get(m) ?? 0) + 1);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      await sleep(250);
    }
  };
  const clientLoops = Array.from({ length: clients }, client);

  const samples: Sample[] = [];
  const started = Date.now();
  const dbSize = (): number => ['tuf-mirror.db', 'tuf-mirror.db-wal'].reduce((n, f) => n + (fs.statSync(path.join(dataDir, f), { throwIfNoEntry: false })?.size ?? 0), 0);
  try {
    while (Date.now() - started < seconds * 1000) {
      await sleep(sampleEvery * 1000);
      if (mirror.hasExited()) throw new Error('tuf-mirror died during the soak');
      const metrics = (await request(`${base}/metrics`)).body.toString();
      samples.push({
        t: (Date.now() - started) / 1000,
        rss: rssOf(mirror.pid),
        fds: fdCount(mirror.pid),
        heap: metric(metrics, 'tuf_mirror_nodejs_heap_size_used_bytes')[0] ?? NaN,
        heapTotal: metric(metrics, 'tuf_mirror_nodejs_heap_size_total_bytes')[0] ?? NaN,
        db: dbSize(),
        generation: metric(metrics, 'tuf_mirror_generation')[0] ?? NaN,
      });
      const s = samples[samples.length - 1];
      if (samples.length % Math.max(1, Math.round(30 / sampleEvery)) === 0) {
        progress(
          `${Math.round(s.t)}s: RSS ${mib(s.rss)} MiB, ${s.fds} fds, heap ${mib(s.heap)} MiB, store ${mib(s.db)} MiB, generation ${s.generation}, ${rotations} rotations, clients ${clientStats.ok} ok / ${clientStats.failed} failed`,
        );
      }
    }
  } finally {
    clearInterval(ticker);
    stopped = true;
    await Promise.all(clientLoops);
  }
  const metrics = (await request(`${base}/metrics`)).body.toString();
  const runs = Object.fromEntries(['updated', 'unchanged', 'failed'].map((o) => [o, metric(metrics, 'tuf_mirror_sync_runs_total', `outcome="${o}"`).reduce((a, b) => a + b, 0)]));
  const rootVersion = metric(metrics, 'tuf_mirror_role_version', 'role="root"')[0];
  await upstream.close();

  // Figures over the samples after the warm-up.
  const steady = samples.filter((s) => s.t >= warmup);
  if (steady.length < 6) throw new Error(`too few samples after the warm-up (${steady.length}); run longer or sample more often`);
  const third = Math.floor(steady.length / 3);
  const middle = steady.slice(third, 2 * third);
  const last = steady.slice(2 * third);
  type Field = 'rss' | 'fds' | 'heap' | 'heapTotal' | 'db';
  const maxOf = (xs: Sample[], f: Field): number => Math.max(...xs.map((s) => s[f]));
  const perHour = (f: Field): number => slope(steady.map((s) => ({ x: s.t / 3600, y: s[f] })));
  const show = (f: Field, v: number): string => (f === 'fds' ? fmt(v, Number.isInteger(v) ? 0 : 1) : mib(v));
  const flat: Record<'rss' | 'fds', boolean> = {
    rss: maxOf(last, 'rss') <= maxOf(middle, 'rss') * 1.05 + 2 * 1024 * 1024,
    fds: maxOf(last, 'fds') <= maxOf(middle, 'fds') + 2,
  };
  const fields: [Field, string][] = [
    ['rss', 'RSS (MiB)'],
    ['fds', 'open fds'],
    ['heap', 'V8 heap used (MiB)'],
    ['heapTotal', 'V8 heap committed (MiB)'],
    ['db', 'store on disk (MiB)'],
  ];

  let out = `\nSoak: ${Math.round(samples[samples.length - 1].t)}s, a sync every ${syncEvery}s (cron "*/${syncEvery} * * * * *"), the upstream re-signing every ${syncEvery}s and rotating root every ${rotateEvery}s,\n`;
  out += `  ${clients} TUF clients refreshing from root v1 throughout; retention keeps ${kept} generations. Samples every ${sampleEvery}s; figures after a ${warmup}s warm-up (${steady.length} samples).\n`;
  out += `  machine: ${machineLine()}\n\n`;
  out += table(
    ['figure', 'first', 'last', 'min', 'max', 'slope /h', 'last/first', 'max last third vs middle third'],
    fields.map(([f, label]) => [
      label,
      show(f, steady[0][f]),
      show(f, steady[steady.length - 1][f]),
      show(f, Math.min(...steady.map((s) => s[f]))),
      show(f, maxOf(steady, f)),
      (perHour(f) >= 0 ? '+' : '') + show(f, perHour(f)),
      fmtRatio(steady[steady.length - 1][f] / steady[0][f]),
      `${show(f, maxOf(last, f))} vs ${show(f, maxOf(middle, f))}${f === 'rss' || f === 'fds' ? (flat[f] ? ' flat' : ' GROWING') : ''}`,
    ]),
    [false, true, true, true, true, true, true, false],
  );
  out += `\nsyncs: ${runs.updated} updated, ${runs.unchanged} unchanged, ${runs.failed} failed; generation ${samples[samples.length - 1].generation}; root v${rootVersion} after ${rotations} rotations\n`;
  out += `TUF clients: ${clientStats.ok} refreshes ok, ${clientStats.failed} failed`;
  out += clientStats.failed ? ` (${[...clientStats.errors].map(([m, n]) => `${n}x ${m}`).join('; ')})\n` : '\n';
  out += `  (a client that reads N+1.root.json just before a rotation lands and timestamp.json just after it rejects that timestamp, against any repository, the upstream's too; its next refresh succeeds.)\n`;
  out += flat.rss && flat.fds ? 'verdict: flat (RSS and open file descriptors do not grow).\n' : 'verdict: NOT flat: see the GROWING rows.\n';
  out += `slopes are least-squares over the samples after the warm-up; on a short run, garbage-collection sawtooth dominates them: compare runs of the same length, or run longer (SOAK_SECONDS=3600).\n`;
  process.stdout.write(out);
  if (!(flat.rss && flat.fds)) process.exitCode = 1;
}

if (require.main === module) benchMain(run);
