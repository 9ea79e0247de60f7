/**
 * Serving while generations switch: the load of bench/serve.ts (wrk, 64 keep-alive connections)
 * on a mirror that syncs every second from an upstream that re-signs its timestamp every second
 * (and changes a target every 5 s), next to the same load on the same mirror while the upstream
 * stands still (the reference: syncs still run, find nothing new, switch nothing).
 *
 *   npm run bench:sync-load
 *
 * Besides wrk, TUF walkers follow timestamp.json → N.snapshot.json → N.targets.json →
 * targets/<hash>.<name> (and the delegated role, and the unversioned names) the whole time and
 * check every response: 200, body sha256 = its ETag, and those bytes are the file of the
 * generation named in X-TUF-Mirror-Generation (checked against the store afterwards). Any
 * error or mixed response makes the script exit 1. It never asserts a time.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isVersionedPath } from '../lib/layout';
import { parseSnapshot, parseTargets, parseTimestamp } from '../lib/tuf-metadata';
import { Store } from '../store/store';
import { TestRepository } from '../testing/tuf-repo';
import { startUpstreamServer } from '../testing/upstream-server';
import {
  benchMain,
  CLI,
  envNumber,
  findExecutable,
  FIXTURE,
  fmt,
  fmtRatio,
  freePort,
  launch,
  machineLine,
  median,
  progress,
  request,
  runWrk,
  sleep,
  table,
  tempDir,
  UsageError,
  waitFor,
  wrkProblems,
  type WrkResult,
} from './lib';

const TOKEN = 'bench-admin-token-0123456789abcdef';
const FILES = [
  { label: 'timestamp.json', urlPath: '/timestamp.json' },
  { label: 'targets/trusted_root.json', urlPath: '/targets/trusted_root.json' },
] as const;
type Phase = 'reference' | 'switching';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The fixture's trusted_root.json with a fixed-width counter, so every version has the same size. */
function trustedRoot(n: number): Buffer {
  const json = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'targets', '6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66.trusted_root.json'), 'utf8')) as Record<string, unknown>;
  return Buffer.from(JSON.stringify({ ...json, benchRevision: String(n).padStart(8, '0') }, null, 2) + '\n');
}

type Observation = { generation: number; path: string; sha: string };

/** Walks the repository as a consistent-snapshot client does, checking every response. */
class Walkers {
  observations = new Map<string, Observation>();
  errors: string[] = [];
  mixed: string[] = [];
  responses = 0;
  private stopped = true;
  private running: Promise<void>[] = [];

  constructor(private readonly base: string) {}

  private async fetch(p: string): Promise<Buffer> {
    const res = await request(`${this.base}/${p}`);
    this.responses++;
    if (res.status !== 200) throw new Error(`${p}: HTTP ${res.status}`);
    const sha = sha256(res.body);
    const etag = res.headers.etag ?? '';
    if (etag !== `"${sha}"`) {
      this.mixed.push(`${p}: body sha256 ${sha} but ETag ${etag}`);
      return res.body;
    }
    const generation = Number(res.headers['x-tuf-mirror-generation']);
    const key = `${generation}\0${p}`;
    const seen = this.observations.get(key);
    if (seen && seen.sha !== sha) this.mixed.push(`${p}: two different bodies under generation ${generation}`);
    else if (!seen) this.observations.set(key, { generation, path: p, sha });
    return res.body;
  }

  private async walk(): Promise<void> {
    const ts = parseTimestamp(await this.fetch('timestamp.json'));
    const snap = parseSnapshot(await this.fetch(`${ts.signed.snapshotMeta.version}.snapshot.json`));
    for (const [name, meta] of Object.entries(snap.signed.meta)) {
      const md = parseTargets(await this.fetch(`${meta.version}.${name}`), name);
      for (const [target, info] of Object.entries(md.signed.targets)) {
        const slash = target.lastIndexOf('/');
        await this.fetch(`targets/${target.slice(0, slash + 1)}${info.hashes.sha256}.${target.slice(slash + 1)}`);
      }
    }
    await this.fetch('targets/trusted_root.json');
    await this.fetch('snapshot.json');
  }

  start(count: number): void {
    this.stopped = false;
    this.running = Array.from({ length: count }, async () => {
      while (!this.stopped) {
        try {
          await this.walk();
        } catch (err) {
          this.errors.push((err as Error).message);
          await sleep(50);
        }
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.running);
  }
}

async function run(): Promise<void> {
  const seconds = envNumber('BENCH_SECONDS', 15, { integer: true, min: 1 });
  const rounds = envNumber('BENCH_ROUNDS', 2, { integer: true, min: 1 });
  const wrkOptions = {
    connections: envNumber('BENCH_CONNECTIONS', 64, { integer: true, min: 1 }),
    threads: envNumber('BENCH_THREADS', 2, { integer: true, min: 1 }),
    timeoutSeconds: envNumber('BENCH_TIMEOUT_SECONDS', 5, { integer: true, min: 1 }),
  };
  const walkerCount = envNumber('BENCH_WALKERS', 4, { integer: true, min: 1 });
  const wrk = findExecutable('wrk');
  if (!wrk) throw new UsageError('missing: wrk\ninstall it with: apt-get update && apt-get install -y wrk');
  if (!fs.existsSync(CLI)) throw new UsageError('dist/cli/main.js is missing: build first (npm run build)');

  // The upstream: a signed repository shaped like Sigstore's (a delegated role, the real trusted_root.json).
  const repo = new TestRepository({ keyType: 'ecdsa' });
  repo.addDelegation('registry.npmjs.org', { paths: ['registry.npmjs.org/*'] });
  repo.addTarget('registry.npmjs.org/keys.json', fs.readFileSync(path.join(FIXTURE, 'targets', 'registry.npmjs.org', '160677eb6e1c7083c89b166b20f8fe4e837fb71181506aff1991b80b89184f7d.keys.json')), {
    role: 'registry.npmjs.org',
  });
  let revision = 0;
  repo.addTarget('trusted_root.json', trustedRoot(revision));
  repo.publish();
  const upstream = await startUpstreamServer(() => repo.files());

  const work = tempDir('tuf-mirror-bench-switch-');
  const dataDir = path.join(work, 'data');
  const anchor = path.join(work, 'anchor.root.json');
  fs.writeFileSync(anchor, repo.rootBytes(1));
  const port = await freePort();
  const config = path.join(work, 'tuf-mirror.yaml');
  fs.writeFileSync(
    config,
    JSON.stringify(
      {
        dataDir,
        server: { host: '127.0.0.1', port },
        adminToken: TOKEN,
        sync: { onStart: true, schedule: '* * * * * *', jitterSeconds: 0, retries: 0, requestTimeoutSeconds: 10 },
        retention: { servedGenerations: 5, keptGenerations: 100000 },
        repositories: [{ name: 'sigstore', upstream: upstream.url, trustAnchor: anchor }],
      },
      null,
      2,
    ) + '\n',
  );
  const base = `http://127.0.0.1:${port}`;
  const mirror = launch('tuf-mirror', process.execPath, [CLI, 'serve', '--config', config], path.join(work, 'tuf-mirror.log'), { ...process.env, TUF_MIRROR_LOG_LEVEL: 'warn' });
  await waitFor('readiness', mirror, async () => (await request(`${base}/readyz`)).status === 200);
  progress(`tuf-mirror ready on ${base}, syncing every second from ${upstream.url}`);

  const generation = async (): Promise<number> => {
    const res = await request(`${base}/api/v1/repositories/sigstore`);
    return (JSON.parse(res.body.toString()) as { generation: { id: number } }).generation.id;
  };

  // The upstream changes every second while switching: a new timestamp, and every 5th second a new
  // trusted_root.json (new targets, snapshot and timestamp).
  let ticker: NodeJS.Timeout | undefined;
  let ticks = 0;
  const startChanging = (): void => {
    ticker = setInterval(() => {
      ticks++;
      if (ticks % 5 === 0) {
        repo.addTarget('trusted_root.json', trustedRoot(++revision));
        repo.publish();
      } else {
        repo.bumpTimestamp();
      }
    }, 1000);
  };
  const stopChanging = (): void => clearInterval(ticker);

  const walkers: Record<Phase, Walkers> = { reference: new Walkers(base), switching: new Walkers(base) };
  type Row = { phase: Phase; file: string; runs: WrkResult[]; switches: number[] };
  const rows: Row[] = [];
  const row = (phase: Phase, file: string): Row => {
    let r = rows.find((x) => x.phase === phase && x.file === file);
    if (!r) rows.push((r = { phase, file, runs: [], switches: [] }));
    return r;
  };

  try {
    progress(`warm-up 2s per file`);
    for (const f of FILES) await runWrk(wrk, wrkOptions, base + f.urlPath, 2);
    for (let round = 1; round <= rounds; round++) {
      for (const f of FILES) {
        // Alternate which phase goes first, so neither always follows the other.
        const phases: Phase[] = round % 2 ? ['reference', 'switching'] : ['switching', 'reference'];
        for (const phase of phases) {
          if (phase === 'switching') startChanging();
          await sleep(phase === 'switching' ? 1500 : 2500); // let a switch happen / let the last one settle
          const before = await generation();
          walkers[phase].start(walkerCount);
          progress(`round ${round}/${rounds}, ${seconds}s: ${phase} ${f.label}`);
          const result = await runWrk(wrk, wrkOptions, base + f.urlPath, seconds);
          await walkers[phase].stop();
          if (phase === 'switching') stopChanging();
          const switches = (await generation()) - before;
          progress(`  ${fmt(result.requestsPerSec, 0)} req/s, p99 ${fmt(result.p99Ms, 2)} ms, ${switches} generation switches`);
          row(phase, f.label).runs.push(result);
          row(phase, f.label).switches.push(switches);
          if (mirror.hasExited()) throw new Error('tuf-mirror died during the benchmark');
        }
      }
    }
  } finally {
    stopChanging();
  }

  // Every body a walker saw must be the file of the generation it claimed.
  const store = Store.open(dataDir);
  const generationIds = store.generationIds('sigstore');
  const older = (id: number): number[] => generationIds.filter((g) => g < id).slice(-4);
  const filesOf = new Map<number, Map<string, string>>();
  const files = (id: number): Map<string, string> => {
    let f = filesOf.get(id);
    if (!f) filesOf.set(id, (f = store.generationFiles(id)));
    return f;
  };
  let verified = 0;
  for (const w of Object.values(walkers)) {
    for (const o of w.observations.values()) {
      const ok = files(o.generation).get(o.path) === o.sha || (isVersionedPath(o.path) && older(o.generation).some((id) => files(id).get(o.path) === o.sha));
      if (ok) verified++;
      else w.mixed.push(`${o.path}: the body served as generation ${o.generation} is not that generation's file`);
    }
  }
  const totalGenerations = generationIds.length;
  store.close();
  await upstream.close();

  let out = `\nServing while generations switch: wrk -c ${wrkOptions.connections} -t ${wrkOptions.threads} -d ${seconds}s --timeout ${wrkOptions.timeoutSeconds}s --latency, keep-alive, 127.0.0.1\n`;
  out += `  the mirror syncs every second (cron "* * * * * *"); switching: the upstream re-signs its timestamp every second and changes trusted_root.json every 5 s;\n`;
  out += `  reference: the same mirror and load while the upstream stands still. ${rounds} round(s), medians. ${walkerCount} TUF walkers check every response throughout.\n`;
  out += `  machine: ${machineLine()}\n\n`;
  out += table(
    ['phase', 'file', 'req/s', 'p99 ms', 'p50 ms', 'switches/run', 'wrk checks'],
    rows.map((r) => [
      r.phase,
      r.file,
      fmt(median(r.runs.map((x) => x.requestsPerSec)), 0),
      fmt(median(r.runs.map((x) => x.p99Ms)), 2),
      fmt(median(r.runs.map((x) => x.p50Ms)), 2),
      r.switches.join(', '),
      r.runs.flatMap(wrkProblems).join('; ') || 'all 2xx',
    ]),
    [false, false, true, true, true, true, false],
  );
  out += '\nswitching / reference\n';
  out += table(
    ['file', 'throughput', 'p99'],
    FILES.map((f) => {
      const s = row('switching', f.label).runs;
      const r = row('reference', f.label).runs;
      return [f.label, fmtRatio(median(s.map((x) => x.requestsPerSec)) / median(r.map((x) => x.requestsPerSec))), fmtRatio(median(s.map((x) => x.p99Ms)) / median(r.map((x) => x.p99Ms)))];
    }),
    [false, true, true],
  );
  out += '\nTUF walkers (every response: 200, sha256 = ETag, = the file of the generation it names)\n';
  out += table(
    ['phase', 'responses', 'errors', 'mixed'],
    (['reference', 'switching'] as const).map((p) => [p, String(walkers[p].responses), String(walkers[p].errors.length), String(walkers[p].mixed.length)]),
    [false, true, true, true],
  );
  const wrkErrors = rows.flatMap((r) => r.runs.flatMap(wrkProblems));
  const bad = [...Object.values(walkers).flatMap((w) => [...w.errors, ...w.mixed]), ...wrkErrors];
  out += `\n${verified} distinct (generation, file) bodies verified against the store; ${totalGenerations} generations committed in all.\n`;
  out += bad.length ? `FAILED: ${bad.length} errors or mixed responses, first: ${bad.slice(0, 5).join(' | ')}\n` : 'zero errors, zero mixed responses.\n';
  process.stdout.write(out);
  if (bad.length) process.exitCode = 1;
}

if (require.main === module) benchMain(run);
