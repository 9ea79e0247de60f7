/**
 * Serving benchmark: throughput and p99 latency of tuf-mirror for timestamp.json and one target,
 * under concurrent keep-alive load from wrk, next to two reference servers of the same tree:
 * nginx reading it from disk (the goal: tuf-mirror within 2x of it) and `python3 -m http.server`
 * (what users run today). It prints figures and ratios; it never asserts a time.
 *
 *   npm run bench:serve                      # builds, then runs this file
 *   BENCH_SECONDS=30 npm run bench:serve     # see bench/README.md for every knob
 *
 * Steps: sync the fixture repository (test/fixtures/sigstore-tuf-2026-08-21) into a fresh
 * tuf-mirror store through a loopback upstream, with the clock pinned to when the fixture is
 * valid (bench/pin-date.ts); then, one server at a time, start it, check it answers both URLs
 * with 200 and the fixture's exact bytes, warm it up, run wrk, stop it.
 * Everything runs on 127.0.0.1 and every process started here is stopped on exit, error or signal.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../lib/paths';
import { parseWrk, startNginx, type WrkResult } from './lib';

const ROOT = packageRoot();
const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'sigstore-tuf-2026-08-21');
const TRUST_ANCHOR = path.join(FIXTURE, '1.root.json');
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
const PIN_DATE = path.join(__dirname, 'pin-date.js');

/** The two URLs measured, the same path on every server. */
const FILES = [
  { label: 'timestamp.json', urlPath: '/timestamp.json' },
  { label: 'target trusted_root.json', urlPath: '/targets/6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66.trusted_root.json' },
] as const;

const SERVER_NAMES = ['tuf-mirror', 'nginx', 'python'] as const;
type ServerName = (typeof SERVER_NAMES)[number];
const DISPLAY: Record<ServerName, string> = { 'tuf-mirror': 'tuf-mirror', nginx: 'nginx', python: 'python3 http.server' };

const INSTALL_HINT = 'install them with: apt-get update && apt-get install -y nginx wrk   (Debian/Ubuntu, as root)';

// ---------------------------------------------------------------------------------------------
// Settings

type Settings = {
  seconds: number;
  warmupSeconds: number;
  rounds: number;
  connections: number;
  threads: number;
  timeoutSeconds: number;
  servers: ServerName[];
  python: string;
  keepTmp: boolean;
  jsonOut?: string;
};

function envNumber(name: string, fallback: number, { integer = false, min = 0 } = {}): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new UsageError(`${name}=${raw}: must be ${integer ? 'an integer' : 'a number'} >= ${min}`);
  }
  return n;
}

function readSettings(): Settings {
  const servers = (process.env.BENCH_SERVERS ?? SERVER_NAMES.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of servers) {
    if (!(SERVER_NAMES as readonly string[]).includes(s)) throw new UsageError(`BENCH_SERVERS: unknown server "${s}" (known: ${SERVER_NAMES.join(', ')})`);
  }
  const settings: Settings = {
    seconds: envNumber('BENCH_SECONDS', 10, { integer: true, min: 1 }),
    warmupSeconds: envNumber('BENCH_WARMUP_SECONDS', 2, { integer: true, min: 0 }),
    rounds: envNumber('BENCH_ROUNDS', 3, { integer: true, min: 1 }),
    connections: envNumber('BENCH_CONNECTIONS', 64, { integer: true, min: 1 }),
    threads: envNumber('BENCH_THREADS', 2, { integer: true, min: 1 }),
    timeoutSeconds: envNumber('BENCH_TIMEOUT_SECONDS', 5, { integer: true, min: 1 }),
    servers: servers as ServerName[],
    python: process.env.BENCH_PYTHON || 'python3',
    keepTmp: process.env.BENCH_KEEP_TMP === '1',
    jsonOut: process.env.BENCH_JSON || undefined,
  };
  if (settings.threads > settings.connections) throw new UsageError('BENCH_THREADS must not exceed BENCH_CONNECTIONS (wrk needs one connection per thread)');
  return settings;
}

class UsageError extends Error {}

// ---------------------------------------------------------------------------------------------
// Processes: every child runs in its own process group so that stopping it also stops what it
// forked (nginx workers, the interpreter behind a pyenv shim). Nothing else is ever signalled.

type Managed = {
  name: string;
  child: ChildProcess;
  logFile?: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited: () => boolean;
};

const running = new Set<Managed>();
const tempDirs: string[] = [];

function signalGroup(m: Managed, signal: NodeJS.Signals): void {
  if (m.child.pid === undefined || m.hasExited()) return;
  try {
    process.kill(-m.child.pid, signal);
  } catch {
    // already gone
  }
}

/** Start a long-running child whose stdout and stderr go to a log file (so reading them costs us no CPU). */
function launch(name: string, command: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): Managed {
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd], env });
  fs.closeSync(fd);
  return track(name, child, logFile);
}

function track(name: string, child: ChildProcess, logFile?: string): Managed {
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      running.delete(m);
      resolve({ code, signal });
    });
    child.once('error', (err) => {
      done = true;
      running.delete(m);
      process.stderr.write(`bench: cannot start ${name}: ${err.message}\n`);
      resolve({ code: 127, signal: null });
    });
  });
  const m: Managed = { name, child, logFile, exited, hasExited: () => done };
  running.add(m);
  return m;
}

async function stop(m: Managed, graceMs = 5000): Promise<void> {
  if (m.hasExited()) return;
  signalGroup(m, 'SIGTERM');
  const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceMs).unref());
  if ((await Promise.race([m.exited, timer])) === 'timeout') {
    signalGroup(m, 'SIGKILL');
    await m.exited;
  }
  // The leader is gone; make sure nothing it forked outlives it.
  if (m.child.pid !== undefined) {
    try {
      process.kill(-m.child.pid, 'SIGKILL');
    } catch {
      // group empty
    }
  }
}

/** Run a child to completion, collecting its output in memory (for short-lived tools: sync, wrk). */
function runToEnd(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
  const m = track(name, child);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return m.exited.then(
    (r) =>
      new Promise((resolve) => {
        // 'exit' can come before the pipes are drained.
        let open = 2;
        const closed = (): void => {
          if (--open === 0) resolve({ ...r, stdout, stderr });
        };
        if (child.stdout && !child.stdout.readableEnded) child.stdout.once('end', closed);
        else closed();
        if (child.stderr && !child.stderr.readableEnded) child.stderr.once('end', closed);
        else closed();
      }),
  );
}

let cleaning: Promise<void> | undefined;
function cleanup(keepTmp: boolean): Promise<void> {
  cleaning ??= (async () => {
    await Promise.all([...running].map((m) => stop(m)));
    if (!keepTmp) for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
  })();
  return cleaning;
}

// Last resort when the process goes down some other way: nothing async is possible here.
process.on('exit', () => {
  for (const m of running) {
    if (m.child.pid !== undefined) {
      try {
        process.kill(-m.child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Small helpers

function tempDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function findExecutable(name: string): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? path.resolve(name) : undefined;
  // nginx lives in /usr/sbin, which is not on every user's PATH.
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function versionOf(command: string, args: string[]): string {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 10_000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0].trim();
}

function tailOf(file: string | undefined, bytes = 4000): string {
  if (!file) return '';
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.length > bytes ? '...' + text.slice(-bytes) : text;
  } catch {
    return '';
  }
}

function httpGet(url: string, timeoutMs = 5000): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

/** Wait until `url` answers 200, failing early (with the child's log) if the child exits. */
async function waitReady(m: Managed, url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (m.hasExited()) {
      const r = await m.exited;
      throw new Error(`${m.name} exited (code ${r.code}, signal ${r.signal}) before it served ${url}\n${tailOf(m.logFile)}`);
    }
    try {
      const res = await httpGet(url, 1000);
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${m.name} did not serve ${url} within ${timeoutMs / 1000}s (last: ${last})\n${tailOf(m.logFile)}`);
}

function progress(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

// ---------------------------------------------------------------------------------------------
// wrk

async function runWrk(wrk: string, s: Settings, url: string, seconds: number): Promise<{ result: WrkResult; raw: string }> {
  const args = ['-c', String(s.connections), '-t', String(s.threads), '-d', `${seconds}s`, '--timeout', `${s.timeoutSeconds}s`, '--latency', url];
  const r = await runToEnd('wrk', wrk, args);
  if (r.code !== 0) throw new Error(`wrk ${args.join(' ')} failed (code ${r.code}, signal ${r.signal}):\n${r.stdout}${r.stderr}`);
  return { result: parseWrk(r.stdout), raw: r.stdout };
}

// ---------------------------------------------------------------------------------------------
// Servers

type Started = { name: ServerName; baseUrl: string; proc: Managed };

/** A throwaway upstream for the one sync: the fixture folder, read from disk per request. */
async function startFixtureUpstream(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const urlPath = decodeURIComponent((req.url ?? '/').split('?')[0]);
    const file = path.resolve(FIXTURE, '.' + path.posix.normalize(urlPath));
    if (!file.startsWith(FIXTURE + path.sep)) {
      res.writeHead(400).end();
      return;
    }
    fs.readFile(file, (err, body) => {
      if (err) res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      else res.writeHead(200, { 'Content-Length': body.length }).end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Sync the fixture into a fresh store; returns the config file `serve` reads. */
async function prepareMirror(work: string): Promise<string> {
  const upstream = await startFixtureUpstream();
  try {
    const config = path.join(work, 'tuf-mirror.yaml');
    // JSON is YAML.
    const yaml = {
      dataDir: path.join(work, 'data'),
      server: { host: '127.0.0.1', port: 0 },
      sync: { onStart: false },
      repositories: [{ name: 'sigstore', upstream: upstream.url, trustAnchor: TRUST_ANCHOR }],
    };
    fs.writeFileSync(config, JSON.stringify(yaml, null, 2) + '\n');
    progress(`syncing ${path.relative(ROOT, FIXTURE)} into ${yaml.dataDir} (clock pinned to the fixture's date)`);
    const r = await runToEnd('tuf-mirror sync', process.execPath, ['-r', PIN_DATE, CLI, 'sync', '--config', config]);
    if (r.code !== 0) throw new Error(`tuf-mirror sync failed (code ${r.code}, signal ${r.signal}):\n${r.stdout}${r.stderr}`);
    progress(r.stdout.trim());
    return config;
  } finally {
    await upstream.close();
  }
}

async function startTufMirror(config: string, work: string): Promise<Started> {
  const port = await freePort();
  const proc = launch('tuf-mirror', process.execPath, [CLI, 'serve', '--config', config, '--port', String(port)], path.join(work, 'tuf-mirror.log'));
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitReady(proc, `${baseUrl}/readyz`);
  return { name: 'tuf-mirror', baseUrl, proc };
}

async function startNginxServer(nginx: string, work: string): Promise<Started> {
  const { proc, baseUrl } = await startNginx(nginx, path.join(work, 'nginx'), FIXTURE, FILES[0].urlPath);
  return { name: 'nginx', baseUrl, proc };
}

async function startPython(python: string, work: string): Promise<Started> {
  const port = await freePort();
  // Exactly what users run (it logs every request to stderr; that goes to a file here).
  const proc = launch('python3 -m http.server', python, ['-m', 'http.server', '--bind', '127.0.0.1', '--directory', FIXTURE, String(port)], path.join(work, 'python.log'));
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitReady(proc, `${baseUrl}${FILES[0].urlPath}`);
  return { name: 'python', baseUrl, proc };
}

/** Every server must answer both URLs with 200 and the fixture's exact bytes before it is measured. */
async function preflight(server: Started): Promise<void> {
  for (const f of FILES) {
    const expected = fs.readFileSync(path.join(FIXTURE, f.urlPath));
    const res = await httpGet(server.baseUrl + f.urlPath);
    if (res.status !== 200) throw new Error(`${DISPLAY[server.name]} answers ${f.urlPath} with HTTP ${res.status}, not 200\n${tailOf(server.proc.logFile)}`);
    if (!res.body.equals(expected)) throw new Error(`${DISPLAY[server.name]} serves ${f.urlPath} with bytes that differ from the fixture`);
  }
}

// ---------------------------------------------------------------------------------------------
// Report

/** One server and one file: every measured round, summarised by the median. */
type Row = {
  server: ServerName;
  file: string;
  bodyBytes: number;
  runs: WrkResult[];
  requestsPerSec: number;
  p99Ms: number;
  p50Ms: number;
  problems: string[];
};

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  if (!v.length) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

function summarise(server: ServerName, file: string, bodyBytes: number, runs: WrkResult[]): Row {
  return {
    server,
    file,
    bodyBytes,
    runs,
    requestsPerSec: median(runs.map((r) => r.requestsPerSec)),
    p99Ms: median(runs.map((r) => r.p99Ms)),
    p50Ms: median(runs.map((r) => r.p50Ms)),
    problems: problemsOf(runs, bodyBytes),
  };
}

/** Everything that says the runs did not measure 200s with full bodies, summed over rounds. */
function problemsOf(runs: WrkResult[], bodyBytes: number): string[] {
  const out: string[] = [];
  const sum = (f: (r: WrkResult) => number): number => runs.reduce((n, r) => n + f(r), 0);
  if (runs.some((r) => r.requests === 0)) out.push('a round completed no request');
  const non = sum((r) => r.non2xx3xx);
  if (non) out.push(`${non} non-2xx/3xx responses`);
  const errs = (['connect', 'read', 'write', 'timeout'] as const).map((k) => [k, sum((r) => r.socketErrors[k])] as const).filter(([, n]) => n > 0);
  if (errs.length) out.push(`socket errors: ${errs.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  // wrk counts 3xx as fine; a 304 or a redirect would be far smaller than the body. wrk rounds
  // the byte total to 3 significant figures, hence the slack.
  const requests = sum((r) => r.requests);
  const bytes = sum((r) => r.bytesRead);
  if (requests > 0 && bytes / requests < bodyBytes * 0.98) out.push(`only ${Math.round(bytes / requests)} bytes per response for a ${bodyBytes}-byte body`);
  return out;
}

function fmt(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}

function table(header: string[], rows: string[][], rightAlign: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (rightAlign[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  ').trimEnd(), ...rows.map(line)].join('\n') + '\n';
}

/** A ratio readable at any size: 18.4x, 0.64x, 0.0031x. */
function fmtRatio(n: number): string {
  if (!Number.isFinite(n)) return 'n/a';
  return `${n >= 10 ? n.toFixed(1) : n >= 0.1 ? n.toFixed(2) : n.toPrecision(2)}x`;
}

type Ratio = { file: string; against: ServerName; throughput: number; p99: number };

function report(s: Settings, rows: Row[], machine: Record<string, string>): { text: string; ratios: Ratio[] } {
  let out = '';
  out += `\nServing benchmark: wrk -c ${s.connections} -t ${s.threads} -d ${s.seconds}s --timeout ${s.timeoutSeconds}s --latency, keep-alive, 127.0.0.1\n`;
  out += `  ${s.rounds} round${s.rounds === 1 ? '' : 's'} per server and file, interleaved, after a ${s.warmupSeconds}s warm-up each; figures are medians over rounds\n`;
  for (const [k, v] of Object.entries(machine)) out += `  ${k}: ${v}\n`;
  out += '\n';
  const multi = s.rounds > 1;
  out += table(
    ['server', 'file', 'req/s', 'p99 ms', 'p50 ms', ...(multi ? ['req/s min-max', 'p99 ms min-max'] : []), 'checks'],
    rows.map((r) => {
      const rps = r.runs.map((x) => x.requestsPerSec);
      const p99 = r.runs.map((x) => x.p99Ms);
      return [
        DISPLAY[r.server],
        r.file,
        fmt(r.requestsPerSec, 0),
        fmt(r.p99Ms, 2),
        fmt(r.p50Ms, 2),
        ...(multi ? [`${fmt(Math.min(...rps), 0)}-${fmt(Math.max(...rps), 0)}`, `${fmt(Math.min(...p99), 2)}-${fmt(Math.max(...p99), 2)}`] : []),
        r.problems.length ? r.problems.join('; ') : 'all 200, full bodies',
      ];
    }),
    [false, false, true, true, true, ...(multi ? [true, true] : []), false],
  );

  const ratios: Ratio[] = [];
  const find = (server: ServerName, file: string): Row | undefined => rows.find((r) => r.server === server && r.file === file);
  for (const against of ['nginx', 'python'] as const) {
    const lines: string[][] = [];
    for (const f of FILES) {
      const mine = find('tuf-mirror', f.label);
      const ref = find(against, f.label);
      if (!mine || !ref) continue;
      const ratio: Ratio = { file: f.label, against, throughput: mine.requestsPerSec / ref.requestsPerSec, p99: mine.p99Ms / ref.p99Ms };
      ratios.push(ratio);
      const slower = [ratio.throughput < 0.5 ? 'throughput' : '', ratio.p99 > 2 ? 'p99' : ''].filter(Boolean);
      const verdict = against === 'nginx' ? (slower.length ? `NOT within 2x of nginx (${slower.join(' and ')})` : 'within 2x of nginx') : '';
      lines.push([f.label, fmtRatio(ratio.throughput), fmtRatio(ratio.p99), verdict]);
    }
    if (!lines.length) continue;
    out += `\ntuf-mirror / ${DISPLAY[against]}${against === 'nginx' ? ' (goal: throughput >= 0.5x and p99 <= 2x)' : ''}\n`;
    out += table(['file', 'throughput', 'p99', ''], lines, [false, true, true, false]);
  }
  out += '\nthroughput ratio > 1: tuf-mirror serves more requests/s; p99 ratio < 1: tuf-mirror answers faster.\n';
  out += `NOTE: ${machine.note}\n`;
  return { text: out, ratios };
}

// ---------------------------------------------------------------------------------------------

async function run(s: Settings): Promise<void> {
  const missing: string[] = [];
  const wrk = findExecutable('wrk');
  if (!wrk) missing.push('wrk');
  const nginx = s.servers.includes('nginx') ? findExecutable(process.env.BENCH_NGINX || 'nginx') : undefined;
  if (s.servers.includes('nginx') && !nginx) missing.push('nginx');
  const python = s.servers.includes('python') ? findExecutable(s.python) : undefined;
  if (s.servers.includes('python') && !python) missing.push(`python3 (or set BENCH_PYTHON)`);
  if (missing.length) {
    throw new UsageError(`missing: ${missing.join(', ')}\n${INSTALL_HINT}${missing.some((m) => m.startsWith('python3')) ? '\n  python3: apt-get install -y python3' : ''}`);
  }
  if (!fs.existsSync(CLI)) throw new UsageError(`${path.relative(ROOT, CLI)} is missing: build first (npm run build), or run npm run bench:serve`);
  if (!fs.existsSync(TRUST_ANCHOR)) throw new UsageError(`fixture missing: ${TRUST_ANCHOR}`);

  const cpus = os.cpus();
  const machine: Record<string, string> = {
    cpu: `${cpus.length} cores (${cpus[0]?.model.trim() ?? 'unknown'})`,
    node: process.version,
    wrk: versionOf(wrk!, ['-v']).replace(/\s*Copyright.*$/, ''),
  };
  if (nginx) machine.nginx = `${versionOf(nginx, ['-v']).replace(/^nginx version: /, '')} (worker_processes auto = ${cpus.length}, access_log off, sendfile on)`;
  if (python) machine.python = `${versionOf(python, ['--version'])} -m http.server (HTTP/1.0: a new connection per request)`;
  machine.note =
    `wrk (${s.threads} threads) and the server under test share this machine's ${cpus.length} cores` +
    (cpus.length <= s.threads + 1 ? ' and compete for them: absolute figures are far below what the server alone could do; compare the ratios.' : '.') +
    ` tuf-mirror is one Node.js process (at most one core for JavaScript); nginx runs ${cpus.length} workers.`;
  progress(machine.note);

  // Everything is started and checked before the first measurement; idle servers cost no CPU.
  const work = tempDir('tuf-mirror-bench-');
  const servers: Started[] = [];
  for (const name of s.servers) {
    if (name === 'tuf-mirror') servers.push(await startTufMirror(await prepareMirror(work), work));
    else if (name === 'nginx') servers.push(await startNginxServer(nginx!, work));
    else servers.push(await startPython(python!, work));
    await preflight(servers[servers.length - 1]);
  }

  const alive = (server: Started): void => {
    if (server.proc.hasExited()) throw new Error(`${DISPLAY[server.name]} died during the benchmark\n${tailOf(server.proc.logFile)}`);
  };
  if (s.warmupSeconds > 0) {
    for (const server of servers) {
      for (const f of FILES) {
        progress(`warm-up ${s.warmupSeconds}s: ${DISPLAY[server.name]} ${f.label}`);
        await runWrk(wrk!, s, server.baseUrl + f.urlPath, s.warmupSeconds);
        alive(server);
      }
    }
  }

  const runs = new Map<string, WrkResult[]>();
  const key = (server: ServerName, file: string): string => `${server}\0${file}`;
  for (let round = 0; round < s.rounds; round++) {
    // Rotate the order so no server always runs first or right after python's connection churn.
    const order = servers.map((_, i) => servers[(i + round) % servers.length]);
    for (const server of order) {
      for (const f of FILES) {
        progress(`round ${round + 1}/${s.rounds}, ${s.seconds}s: ${DISPLAY[server.name]} ${f.label}`);
        const { result } = await runWrk(wrk!, s, server.baseUrl + f.urlPath, s.seconds);
        alive(server);
        progress(`  ${fmt(result.requestsPerSec, 0)} req/s, p99 ${fmt(result.p99Ms, 2)} ms, p50 ${fmt(result.p50Ms, 2)} ms`);
        const k = key(server.name, f.label);
        runs.set(k, [...(runs.get(k) ?? []), result]);
      }
    }
  }

  const rows = servers.flatMap((server) =>
    FILES.map((f) => summarise(server.name, f.label, fs.statSync(path.join(FIXTURE, f.urlPath)).size, runs.get(key(server.name, f.label)) ?? [])),
  );
  const { text, ratios } = report(s, rows, machine);
  process.stdout.write(text);
  if (s.jsonOut) {
    fs.writeFileSync(s.jsonOut, JSON.stringify({ settings: { ...s, jsonOut: undefined }, machine, rows, ratios }, null, 2) + '\n');
    progress(`wrote ${s.jsonOut}`);
  }
}

async function main(): Promise<void> {
  let settings: Settings;
  try {
    settings = readSettings();
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    process.exit(2);
  }
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals, code: number): void => {
    if (interrupted) process.exit(code); // second signal: the 'exit' hook SIGKILLs what is left
    interrupted = true;
    progress(`${signal}: stopping the processes started here`);
    void cleanup(settings.keepTmp).finally(() => process.exit(code));
  };
  process.on('SIGINT', () => onSignal('SIGINT', 130));
  process.on('SIGTERM', () => onSignal('SIGTERM', 143));
  process.on('SIGHUP', () => onSignal('SIGHUP', 129));

  try {
    await run(settings);
  } catch (err) {
    if (interrupted) return; // the signal handler exits once everything is stopped
    process.stderr.write(`bench: ${err instanceof UsageError ? err.message : ((err as Error).stack ?? String(err))}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  } finally {
    await cleanup(settings.keepTmp);
    if (settings.keepTmp && tempDirs.length) progress(`kept ${tempDirs.join(', ')}`);
  }
}

if (require.main === module) void main();
