/**
 * Serving benchmark: throughput and p99 latency of tuf-mirror for timestamp.json, one target and a
 * missing path (404), under concurrent keep-alive load from wrk, next to three reference servers of
 * the same tree: a bare Node.js `http` server answering from memory (bench/bare-node.ts: the floor
 * of one Node process; the goal is tuf-mirror >= 0.9x of it), nginx reading it from disk (the goal:
 * tuf-mirror within 2x of it) and `python3 -m http.server` (what users run today). It prints
 * figures and ratios; it never asserts a time.
 *
 *   npm run bench:serve                      # builds, then runs this file
 *   BENCH_SECONDS=30 npm run bench:serve     # see bench/README.md for every knob
 *
 * Steps: sync the fixture repository (test/fixtures/sigstore-tuf-2026-08-21) into a fresh
 * tuf-mirror store from the bare Node server, with the clock pinned to when the fixture is valid
 * (bench/pin-date.ts); start every server and check it answers each URL with the right status and
 * (for 200s) the fixture's exact bytes; warm each up; then rounds in which every file is measured on
 * every server back to back, tuf-mirror and bare Node last and adjacent (which goes first
 * alternating per round), so that each ratio compares runs made seconds apart. Everything runs on
 * 127.0.0.1 and every process started here is stopped on exit, error or signal.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { envValue } from '../lib/env';
import {
  benchMain,
  CLI,
  envNumber,
  findExecutable,
  FIXTURE,
  groupPids,
  fmt,
  fmtRatio,
  freePort,
  launch,
  median,
  PIN_DATE,
  progress,
  request,
  ROOT,
  runToEnd,
  runWrk,
  sleep,
  startNginx,
  table,
  tailOf,
  tempDir,
  UsageError,
  waitFor,
  type Managed,
  type WrkResult,
} from './lib';

const TRUST_ANCHOR = path.join(FIXTURE, '1.root.json');
const BARE_NODE = path.join(__dirname, 'bare-node.js');

/** The URLs measured, the same path on every server. */
const FILES = [
  { label: 'timestamp.json', urlPath: '/timestamp.json', status: 200 },
  { label: 'target trusted_root.json', urlPath: '/targets/6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66.trusted_root.json', status: 200 },
  { label: '404 missing.json', urlPath: '/missing.json', status: 404 },
] as const;
type File = (typeof FILES)[number];

const SERVER_NAMES = ['tuf-mirror', 'node', 'nginx', 'python'] as const;
type ServerName = (typeof SERVER_NAMES)[number];
const DISPLAY: Record<ServerName, string> = { 'tuf-mirror': 'tuf-mirror', node: 'bare node:http', nginx: 'nginx', python: 'python3 http.server' };

/** What tuf-mirror is held to against each reference, in throughput (and p99 for nginx). */
const GOALS: Partial<Record<ServerName, { throughput: number; p99?: number; text: string }>> = {
  node: { throughput: 0.9, text: 'goal: throughput >= 0.9x' },
  nginx: { throughput: 0.5, p99: 2, text: 'goal: throughput >= 0.5x and p99 <= 2x' },
};

const INSTALL_HINT = 'install them with: apt-get update && apt-get install -y nginx wrk   (Debian/Ubuntu, as root)';

type Settings = {
  seconds: number;
  warmupSeconds: number;
  rounds: number;
  connections: number;
  threads: number;
  timeoutSeconds: number;
  servers: ServerName[];
  python: string;
  jsonOut?: string;
};

function isServerName(s: string): s is ServerName {
  return (SERVER_NAMES as readonly string[]).includes(s);
}

function readSettings(): Settings {
  const servers = (process.env.BENCH_SERVERS ?? SERVER_NAMES.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = servers.filter((s) => !isServerName(s));
  if (unknown.length) throw new UsageError(`BENCH_SERVERS: unknown server "${unknown[0]}" (known: ${SERVER_NAMES.join(', ')})`);
  const settings: Settings = {
    seconds: envNumber('BENCH_SECONDS', 10, { integer: true, min: 1 }),
    warmupSeconds: envNumber('BENCH_WARMUP_SECONDS', 2, { integer: true, min: 0 }),
    rounds: envNumber('BENCH_ROUNDS', 3, { integer: true, min: 1 }),
    connections: envNumber('BENCH_CONNECTIONS', 64, { integer: true, min: 1 }),
    threads: envNumber('BENCH_THREADS', 2, { integer: true, min: 1 }),
    timeoutSeconds: envNumber('BENCH_TIMEOUT_SECONDS', 5, { integer: true, min: 1 }),
    servers: servers.filter(isServerName),
    python: envValue('BENCH_PYTHON') ?? 'python3',
    jsonOut: envValue('BENCH_JSON'),
  };
  if (settings.threads > settings.connections) throw new UsageError('BENCH_THREADS must not exceed BENCH_CONNECTIONS (wrk needs one connection per thread)');
  return settings;
}

function versionOf(command: string, args: string[]): string {
  return firstLine(spawnSync(command, args, { encoding: 'utf8', timeout: 10_000 }));
}

/** The first line a command printed; its output is null, whatever the types say, when it could not be started. */
function firstLine(output: { stdout: string | null; stderr: string | null }): string {
  return `${output.stdout ?? ''}${output.stderr ?? ''}`.split('\n')[0].trim();
}

const CLOCK_TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU time (user + system, every thread) used so far by a process group, in ms (nginx: master and workers). */
function groupCpuMs(pgid: number): number {
  let ticks = 0;
  for (const pid of groupPids(pgid)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      // pid (comm) state ...: utime and stime are the 12th and 13th fields after the comm.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited meanwhile
    }
  }
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

const loadAverage = (): string =>
  os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(', ');

/**
 * The order of one round's runs of a URL: the other references first (rotated per round), then
 * tuf-mirror and bare Node back to back, which of the two first alternating per round. A run right
 * after nginx's or python's sees a busier machine (their connections closing), so the pair whose
 * ratio is the goal takes that place in turn.
 */
function runOrder(servers: Started[], round: number): Started[] {
  const others = servers.filter((x) => x.name !== 'tuf-mirror' && x.name !== 'node');
  const pair = servers.filter((x) => x.name === 'tuf-mirror' || x.name === 'node');
  if (round % 2) pair.reverse();
  return [...others.map((_, i) => others[(i + round) % others.length]), ...pair];
}

// ---------------------------------------------------------------------------------------------
// Servers

type Started = { name: ServerName; baseUrl: string; proc: Managed };

async function startAndProbe(name: ServerName, command: string, args: string[], port: number, logFile: string): Promise<Started> {
  const proc = launch(DISPLAY[name], command, args, logFile);
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitFor('an answer', proc, async () => (await request(baseUrl + FILES[0].urlPath)).status === 200, 20_000);
  return { name, baseUrl, proc };
}

async function startBareNode(work: string): Promise<Started> {
  const port = await freePort();
  return startAndProbe('node', process.execPath, [BARE_NODE, FIXTURE, String(port)], port, path.join(work, 'bare-node.log'));
}

/** Sync the fixture into a fresh store from `upstream`; returns the config file `serve` reads. */
async function prepareMirror(work: string, upstream: string): Promise<string> {
  const config = path.join(work, 'tuf-mirror.yaml');
  // JSON is YAML.
  const yaml = {
    dataDir: path.join(work, 'data'),
    server: { host: '127.0.0.1', port: 0 },
    sync: { onStart: false },
    repositories: [{ name: 'sigstore', upstream, trustAnchor: TRUST_ANCHOR }],
  };
  fs.writeFileSync(config, JSON.stringify(yaml, null, 2) + '\n');
  progress(`syncing ${path.relative(ROOT, FIXTURE)} into ${yaml.dataDir} (clock pinned to the fixture's date)`);
  const r = await runToEnd('tuf-mirror sync', process.execPath, ['-r', PIN_DATE, CLI, 'sync', '--config', config]);
  if (r.code !== 0) throw new Error(`tuf-mirror sync failed (code ${String(r.code)}):\n${r.stdout}${r.stderr}`);
  progress(r.stdout.trim());
  return config;
}

async function startTufMirror(config: string, work: string): Promise<Started> {
  const port = await freePort();
  return startAndProbe('tuf-mirror', process.execPath, [CLI, 'serve', '--config', config, '--port', String(port)], port, path.join(work, 'tuf-mirror.log'));
}

async function startPython(python: string, work: string): Promise<Started> {
  const port = await freePort();
  // Exactly what users run (it logs every request to stderr; that goes to a file here).
  return startAndProbe('python', python, ['-m', 'http.server', '--bind', '127.0.0.1', '--directory', FIXTURE, String(port)], port, path.join(work, 'python.log'));
}

/** Every server must answer each URL with its status, and 200s with the fixture's exact bytes, before it is measured. */
async function preflight(server: Started): Promise<void> {
  for (const f of FILES) {
    const res = await request(server.baseUrl + f.urlPath);
    if (res.status !== f.status) throw new Error(`${DISPLAY[server.name]} answers ${f.urlPath} with HTTP ${res.status}, not ${f.status}\n${tailOf(server.proc.logFile)}`);
    if (f.status === 200 && !res.body.equals(fs.readFileSync(path.join(FIXTURE, f.urlPath)))) {
      throw new Error(`${DISPLAY[server.name]} serves ${f.urlPath} with bytes that differ from the fixture`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Report

/** One server and one file: every measured round (index = round), summarised by the median. */
type Row = { server: ServerName; file: File; runs: WrkResult[]; loads: number[]; cpuUsPerRequest: number[]; problems: string[] };

/** Everything that says the runs did not measure what they should (status, full bodies), summed over rounds. */
function problemsOf(runs: WrkResult[], file: File): string[] {
  const out: string[] = [];
  const sum = (f: (r: WrkResult) => number): number => runs.reduce((n, r) => n + f(r), 0);
  const requests = sum((r) => r.requests);
  if (runs.some((r) => r.requests === 0)) out.push('a round completed no request');
  const non = sum((r) => r.non2xx3xx);
  if (file.status === 200 && non) out.push(`${non} non-2xx/3xx responses`);
  if (file.status !== 200 && non !== requests) out.push(`${requests - non} of ${requests} responses not ${file.status}`);
  const errs = (['connect', 'read', 'write', 'timeout'] as const).map((k) => [k, sum((r) => r.socketErrors[k])] as const).filter(([, n]) => n > 0);
  if (errs.length) out.push(`socket errors: ${errs.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  // wrk counts 3xx as fine; a 304 or a redirect would be far smaller than the body. wrk rounds
  // the byte total to 3 significant figures, hence the slack.
  const bodyBytes = file.status === 200 ? fs.statSync(path.join(FIXTURE, file.urlPath)).size : 0;
  const bytes = sum((r) => r.bytesRead);
  if (requests > 0 && bytes / requests < bodyBytes * 0.98) out.push(`only ${Math.round(bytes / requests)} bytes per response for a ${bodyBytes}-byte body`);
  return out;
}

function checks(r: Row): string {
  if (r.problems.length) return r.problems.join('; ');
  return r.file.status === 200 ? 'all 200, full bodies' : `all ${r.file.status}`;
}

/** tuf-mirror against one reference for one file: the median of the per-round ratios (each from runs seconds apart). */
type Ratio = { file: string; against: ServerName; throughput: number[]; p99: number[]; cpuPerRequest: number[] };

function report(s: Settings, rows: Row[], machine: Record<string, string>): { text: string; ratios: Ratio[] } {
  let out = '';
  out += `\nServing benchmark: wrk -c ${s.connections} -t ${s.threads} -d ${s.seconds}s --timeout ${s.timeoutSeconds}s --latency, keep-alive, 127.0.0.1\n`;
  out += `  ${s.rounds} round${s.rounds === 1 ? '' : 's'}; in each, every file on every server back to back (tuf-mirror and bare node:http last, adjacent, alternating), after a ${s.warmupSeconds}s warm-up each; figures are medians over rounds\n`;
  for (const [k, v] of Object.entries(machine)) if (k !== 'note') out += `  ${k}: ${v}\n`;
  out += '\n';
  const multi = s.rounds > 1;
  out += table(
    ['server', 'file', 'req/s', 'p99 ms', 'p50 ms', ...(multi ? ['req/s min-max', 'p99 ms min-max'] : []), 'CPU us/req', 'load 1m', 'checks'],
    rows.map((r) => {
      const rps = r.runs.map((x) => x.requestsPerSec);
      const p99 = r.runs.map((x) => x.p99Ms);
      return [
        DISPLAY[r.server],
        r.file.label,
        fmt(median(rps), 0),
        fmt(median(p99), 2),
        fmt(median(r.runs.map((x) => x.p50Ms)), 2),
        ...(multi ? [`${fmt(Math.min(...rps), 0)}-${fmt(Math.max(...rps), 0)}`, `${fmt(Math.min(...p99), 2)}-${fmt(Math.max(...p99), 2)}`] : []),
        fmt(median(r.cpuUsPerRequest), 1),
        fmt(median(r.loads), 2),
        checks(r),
      ];
    }),
    [false, false, true, true, true, ...(multi ? [true, true] : []), true, true, false],
  );

  const ratios: Ratio[] = [];
  const find = (server: ServerName, file: File): Row | undefined => rows.find((r) => r.server === server && r.file === file);
  for (const against of ['node', 'nginx', 'python'] as const) {
    const goal = GOALS[against];
    const lines: string[][] = [];
    for (const f of FILES) {
      const mine = find('tuf-mirror', f);
      const ref = find(against, f);
      if (!mine || !ref) continue;
      const ratio: Ratio = {
        file: f.label,
        against,
        throughput: mine.runs.map((r, i) => r.requestsPerSec / ref.runs[i].requestsPerSec),
        p99: mine.runs.map((r, i) => r.p99Ms / ref.runs[i].p99Ms),
        cpuPerRequest: mine.cpuUsPerRequest.map((c, i) => c / ref.cpuUsPerRequest[i]),
      };
      ratios.push(ratio);
      const throughput = median(ratio.throughput);
      const p99 = median(ratio.p99);
      const missed = goal ? [throughput < goal.throughput ? 'throughput' : '', goal.p99 !== undefined && p99 > goal.p99 ? 'p99' : ''].filter(Boolean) : [];
      lines.push([
        f.label,
        fmtRatio(throughput),
        ...(multi ? [`${fmtRatio(Math.min(...ratio.throughput))}-${fmtRatio(Math.max(...ratio.throughput))}`] : []),
        fmtRatio(p99),
        fmtRatio(median(ratio.cpuPerRequest)),
        goal ? (missed.length ? `goal NOT met (${missed.join(' and ')})` : 'goal met') : '',
      ]);
    }
    if (!lines.length) continue;
    out += `\ntuf-mirror / ${DISPLAY[against]}${goal ? ` (${goal.text})` : ''}, median of the per-round ratios\n`;
    out += table(['file', 'throughput', ...(multi ? ['min-max'] : []), 'p99', 'CPU/req', ''], lines, [false, true, ...(multi ? [true] : []), true, true, false]);
  }
  out += '\nthroughput ratio > 1: tuf-mirror serves more requests/s; p99 ratio < 1: tuf-mirror answers faster.\n';
  out += 'CPU us/req: CPU time (user + system, all threads and workers) the server used during the run, per request: unlike req/s it does not\n';
  out += 'depend on the share of the cores the server got, so on a busy machine its ratio is the steadier figure of the work per request.\n';
  out += `NOTE: ${machine.note}\n`;
  return { text: out, ratios };
}

// ---------------------------------------------------------------------------------------------

async function run(): Promise<void> {
  const s = readSettings();
  const missing: string[] = [];
  const wrk = findExecutable('wrk');
  if (!wrk) missing.push('wrk');
  const nginx = s.servers.includes('nginx') ? findExecutable(envValue('BENCH_NGINX') ?? 'nginx') : undefined;
  if (s.servers.includes('nginx') && !nginx) missing.push('nginx');
  const python = s.servers.includes('python') ? findExecutable(s.python) : undefined;
  if (s.servers.includes('python') && !python) missing.push(`python3 (or set BENCH_PYTHON)`);
  if (missing.length || !wrk) {
    throw new UsageError(`missing: ${missing.join(', ')}\n${INSTALL_HINT}${missing.some((m) => m.startsWith('python3')) ? '\n  python3: apt-get install -y python3' : ''}`);
  }
  if (!fs.existsSync(CLI)) throw new UsageError(`${path.relative(ROOT, CLI)} is missing: build first (npm run build), or run npm run bench:serve`);
  if (!fs.existsSync(TRUST_ANCHOR)) throw new UsageError(`fixture missing: ${TRUST_ANCHOR}`);

  const cpus = os.cpus();
  const machine: Record<string, string> = {
    cpu: `${cpus.length} cores (${cpus[0]?.model.trim() ?? 'unknown'})`,
    node: process.version,
    wrk: versionOf(wrk, ['-v']).replace(/\s*Copyright.*$/, ''),
    'load average at start': loadAverage(),
  };
  if (nginx) machine.nginx = `${versionOf(nginx, ['-v']).replace(/^nginx version: /, '')} (worker_processes auto = ${cpus.length}, access_log off, sendfile on)`;
  if (python) machine.python = `${versionOf(python, ['--version'])} -m http.server (HTTP/1.0: a new connection per request)`;
  machine.note =
    `wrk (${s.threads} threads) and the server under test share this machine's ${cpus.length} cores` +
    (cpus.length <= s.threads + 1 ? ' and compete for them: absolute figures are far below what the server alone could do; compare the ratios.' : '.') +
    ` tuf-mirror and bare node:http are one Node.js process each (at most one core for JavaScript); nginx runs ${cpus.length} workers.`;
  progress(machine.note);

  // Everything is started and checked before the first measurement; idle servers cost no CPU.
  // The bare Node server is also the upstream the mirror syncs from.
  const work = tempDir('tuf-mirror-bench-');
  const bare = await startBareNode(work);
  const servers: Started[] = [];
  for (const name of s.servers) {
    if (name === 'tuf-mirror') servers.push(await startTufMirror(await prepareMirror(work, bare.baseUrl), work));
    else if (name === 'node') servers.push(bare);
    else if (name === 'nginx' && nginx) servers.push({ name, ...(await startNginx(nginx, path.join(work, 'nginx'), FIXTURE, FILES[0].urlPath)) });
    else if (name === 'python' && python) servers.push(await startPython(python, work));
    await preflight(servers[servers.length - 1]);
  }

  const alive = (server: Started): void => {
    if (server.proc.hasExited()) throw new Error(`${DISPLAY[server.name]} died during the benchmark\n${tailOf(server.proc.logFile)}`);
  };
  if (s.warmupSeconds > 0) {
    for (const server of servers) {
      for (const f of FILES) {
        progress(`warm-up ${s.warmupSeconds}s: ${DISPLAY[server.name]} ${f.label}`);
        await runWrk(wrk, s, server.baseUrl + f.urlPath, s.warmupSeconds);
        alive(server);
      }
    }
  }

  const rows: Row[] = servers.flatMap((server) => FILES.map((file) => ({ server: server.name, file, runs: [], loads: [], cpuUsPerRequest: [], problems: [] })));
  for (let round = 0; round < s.rounds; round++) {
    for (const f of FILES) {
      for (const server of runOrder(servers, round)) {
        progress(`round ${round + 1}/${s.rounds}, ${s.seconds}s: ${DISPLAY[server.name]} ${f.label}`);
        await sleep(1000); // the previous run's connections close
        const cpuBefore = groupCpuMs(server.proc.pid);
        const result = await runWrk(wrk, s, server.baseUrl + f.urlPath, s.seconds);
        const cpuUs = ((groupCpuMs(server.proc.pid) - cpuBefore) * 1000) / result.requests;
        alive(server);
        const row = rows.find((r) => r.server === server.name && r.file === f);
        row?.runs.push(result);
        row?.loads.push(os.loadavg()[0]);
        row?.cpuUsPerRequest.push(cpuUs);
        progress(`  ${fmt(result.requestsPerSec, 0)} req/s, p99 ${fmt(result.p99Ms, 2)} ms, p50 ${fmt(result.p50Ms, 2)} ms, ${fmt(cpuUs, 1)} us CPU/req, load ${loadAverage()}`);
      }
    }
  }
  for (const r of rows) r.problems = problemsOf(r.runs, r.file);
  machine['load average at end'] = loadAverage();

  const { text, ratios } = report(s, rows, machine);
  process.stdout.write(text);
  if (s.jsonOut) {
    const json = rows.map((r) => ({ server: r.server, file: r.file.label, runs: r.runs, loads: r.loads, cpuUsPerRequest: r.cpuUsPerRequest, problems: r.problems }));
    fs.writeFileSync(s.jsonOut, JSON.stringify({ settings: { ...s, jsonOut: undefined }, machine, rows: json, ratios }, null, 2) + '\n');
    progress(`wrote ${s.jsonOut}`);
  }
}

if (require.main === module) benchMain(run);
