/**
 * Shared by the benchmarks that run a tuf-mirror process next to load and an upstream:
 * process groups that are always stopped, temp dirs, settings from the environment, wrk runs,
 * /proc readings (RSS, open descriptors) and plain-text tables. Loopback only.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../lib/paths';

export const ROOT = packageRoot();
export const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
export const PIN_DATE = path.join(__dirname, 'pin-date.js');
export const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'sigstore-tuf-2026-08-21');

export class UsageError extends Error {}

export function progress(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

export function envNumber(name: string, fallback: number, { integer = false, min = 0 } = {}): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new UsageError(`${name}=${raw}: must be ${integer ? 'an integer' : 'a number'} >= ${min}`);
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Processes: each child leads its own process group, so stopping it stops what it forked.

export type Managed = {
  name: string;
  child: ChildProcess;
  pid: number;
  logFile?: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited: () => boolean;
};

const running = new Set<Managed>();
const tempDirs: string[] = [];

export function launch(name: string, command: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): Managed {
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
      progress(`cannot start ${name}: ${err.message}`);
      resolve({ code: 127, signal: null });
    });
  });
  const m: Managed = { name, child, pid: child.pid ?? -1, logFile, exited, hasExited: () => done };
  running.add(m);
  return m;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // gone
  }
}

export async function stop(m: Managed, graceMs = 5000): Promise<void> {
  if (!m.hasExited()) {
    killGroup(m.pid, 'SIGTERM');
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceMs).unref());
    if ((await Promise.race([m.exited, timer])) === 'timeout') {
      killGroup(m.pid, 'SIGKILL');
      await m.exited;
    }
  }
  killGroup(m.pid, 'SIGKILL');
}

export function runToEnd(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
  const m = track(name, child);
  let stdout = '';
  let stderr = '';
  const outDone = new Promise<void>((r) =>
    child.stdout
      .setEncoding('utf8')
      .on('data', (d: string) => (stdout += d))
      .once('close', r),
  );
  const errDone = new Promise<void>((r) =>
    child.stderr
      .setEncoding('utf8')
      .on('data', (d: string) => (stderr += d))
      .once('close', r),
  );
  return Promise.all([m.exited, outDone, errDone]).then(([r]) => ({ code: r.code, stdout, stderr }));
}

export function tempDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

let cleaning: Promise<void> | undefined;
export function cleanup(keepTmp: boolean): Promise<void> {
  cleaning ??= (async () => {
    await Promise.all([...running].map((m) => stop(m)));
    if (keepTmp) {
      if (tempDirs.length) progress(`kept ${tempDirs.join(', ')}`);
    } else {
      for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
    }
  })();
  return cleaning;
}

process.on('exit', () => {
  for (const m of running) killGroup(m.pid, 'SIGKILL');
});

/**
 * Run a benchmark: exit 2 on a usage problem (a tool missing), 1 when it could not measure or got
 * a wrong answer, and always stop what it started (also on SIGINT/SIGTERM).
 */
export function benchMain(run: () => Promise<void>): void {
  const keepTmp = process.env.BENCH_KEEP_TMP === '1';
  // A signal handler sets it while run() is awaited: a property, so no narrowing takes it for constant.
  const state = { interrupted: false };
  const onSignal = (signal: NodeJS.Signals, code: number): void => {
    if (state.interrupted) process.exit(code);
    state.interrupted = true;
    progress(`${signal}: stopping the processes started here`);
    void cleanup(keepTmp).finally(() => process.exit(code));
  };
  process.on('SIGINT', () => onSignal('SIGINT', 130));
  process.on('SIGTERM', () => onSignal('SIGTERM', 143));
  void (async () => {
    try {
      await run();
    } catch (err) {
      if (state.interrupted) return;
      process.stderr.write(`bench: ${err instanceof UsageError ? err.message : ((err as Error).stack ?? String(err))}\n`);
      process.exitCode = err instanceof UsageError ? 2 : 1;
    } finally {
      await cleanup(keepTmp);
    }
  })();
}

// ---------------------------------------------------------------------------------------------
// Network and tools

export function freePort(): Promise<number> {
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

export function findExecutable(name: string): string | undefined {
  const dirs = name.includes('/') ? [''] : [...(process.env.PATH ?? '').split(path.delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    const candidate = dir ? path.join(dir, name) : path.resolve(name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

export type Response = { status: number; body: Buffer; headers: http.IncomingHttpHeaders };

/** A GET (or POST) on 127.0.0.1 over a keep-alive agent, the whole body in memory. */
export function request(url: string, { method = 'GET', headers = {}, timeoutMs = 10_000 }: { method?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

export async function waitFor(what: string, proc: Managed, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.hasExited()) throw new Error(`${proc.name} exited before ${what}\n${tailOf(proc.logFile)}`);
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${proc.name}: no ${what} within ${timeoutMs / 1000}s\n${tailOf(proc.logFile)}`);
}

export function tailOf(file: string | undefined, bytes = 4000): string {
  if (!file) return '';
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.length > bytes ? '...' + text.slice(-bytes) : text;
  } catch {
    return '';
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export type WrkOptions = { connections: number; threads: number; timeoutSeconds: number };

// wrk

export type WrkResult = {
  requests: number;
  seconds: number;
  bytesRead: number;
  requestsPerSec: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  non2xx3xx: number;
};

const TIME_UNITS: Partial<Record<string, number>> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const BYTE_UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4, PB: 1024 ** 5 };

function timeMs(value: string, unit: string): number {
  const f = TIME_UNITS[unit];
  if (f === undefined) throw new Error(`wrk: unknown time unit ${unit}`);
  return Number(value) * f;
}

/** Parse the text `wrk --latency` prints. Throws if a figure this script needs is missing. */
export function parseWrk(text: string): WrkResult {
  const need = (re: RegExp, what: string): RegExpExecArray => {
    const m = re.exec(text);
    if (!m) throw new Error(`wrk output has no ${what}:\n${text}`);
    return m;
  };
  const total = need(/(\d+) requests in ([\d.]+)(us|ms|s|m|h), ([\d.]+)(B|KB|MB|GB|TB|PB) read/, 'request total');
  const rps = need(/Requests\/sec:\s+([\d.]+)/, 'Requests/sec');
  const pct = (p: string): number => {
    const m = need(new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm'), `${p}% latency (was --latency given?)`);
    return timeMs(m[1], m[2]);
  };
  const max = /Latency\s+[\d.]+\w+\s+[\d.]+\w+\s+([\d.]+)(us|ms|s|m|h)/.exec(text);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  return {
    requests: Number(total[1]),
    seconds: timeMs(total[2], total[3]) / 1000,
    bytesRead: Number(total[4]) * BYTE_UNITS[total[5]],
    requestsPerSec: Number(rps[1]),
    p50Ms: pct('50'),
    p90Ms: pct('90'),
    p99Ms: pct('99'),
    maxMs: max ? timeMs(max[1], max[2]) : NaN,
    socketErrors: sock ? { connect: Number(sock[1]), read: Number(sock[2]), write: Number(sock[3]), timeout: Number(sock[4]) } : { connect: 0, read: 0, write: 0, timeout: 0 },
    non2xx3xx: non ? Number(non[1]) : 0,
  };
}

/** `script`: a wrk Lua script (e.g. one whose delay() paces each connection). */
export async function runWrk(wrk: string, o: WrkOptions, url: string, seconds: number, script?: string): Promise<WrkResult> {
  const args = ['-c', String(o.connections), '-t', String(o.threads), '-d', `${seconds}s`, '--timeout', `${o.timeoutSeconds}s`, '--latency', ...(script ? ['-s', script] : []), url];
  const r = await runToEnd('wrk', wrk, args);
  if (r.code !== 0) throw new Error(`wrk ${args.join(' ')} failed (code ${String(r.code)}):\n${r.stdout}${r.stderr}`);
  return parseWrk(r.stdout);
}

/** Everything wrk says went wrong: non-2xx/3xx answers and socket errors. */
export function wrkProblems(r: WrkResult): string[] {
  const out: string[] = [];
  if (r.requests === 0) out.push('no request completed');
  if (r.non2xx3xx) out.push(`${r.non2xx3xx} non-2xx/3xx`);
  const errs = Object.entries(r.socketErrors).filter(([, n]) => n > 0);
  if (errs.length) out.push(`socket errors: ${errs.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// /proc

/** Resident set size of one process, in bytes (VmRSS). */
export function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** The pids of a process group (nginx: master and workers). */
export function groupPids(pgid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

export function groupRss(pgid: number): number {
  return groupPids(pgid).reduce((n, pid) => {
    try {
      return n + rssOf(pid);
    } catch {
      return n;
    }
  }, 0);
}

export function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

// ---------------------------------------------------------------------------------------------
// Output

export function fmt(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}

export const mib = (bytes: number): string => fmt(bytes / 1024 / 1024, 1);

export function fmtRatio(n: number): string {
  if (!Number.isFinite(n)) return 'n/a';
  return `${n >= 10 ? n.toFixed(1) : n >= 0.1 ? n.toFixed(2) : n.toPrecision(2)}x`;
}

export function table(header: string[], rows: string[][], rightAlign: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (rightAlign[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return (
    [
      line(header),
      widths
        .map((w) => '-'.repeat(w))
        .join('  ')
        .trimEnd(),
      ...rows.map(line),
    ].join('\n') + '\n'
  );
}

export function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  if (!v.length) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Least-squares slope of y over x. */
export function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const num = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  const den = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return den === 0 ? NaN : num / den;
}

export function machineLine(): string {
  const cpus = os.cpus();
  return `${cpus.length} cores (${cpus[0]?.model.trim() ?? 'unknown'}), node ${process.version}`;
}

// ---------------------------------------------------------------------------------------------
// nginx serving a folder from disk: the reference static server of several benchmarks.

function nginxConfig(dir: string, port: number, root: string, workers: string): string {
  const p = (name: string): string => path.join(dir, name);
  // As root, nginx's workers would drop to www-data, which cannot read a mkdtemp (0700) folder.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `# generated by bench/lib.ts: serve ${root} from disk, nothing else
${user}worker_processes ${workers};
daemon off;
pid ${p('nginx.pid')};
error_log ${p('nginx-error.log')} warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    types {
        application/json json;
        application/x-pem-file pem;
    }
    default_type application/octet-stream;
    client_body_temp_path ${p('client_body')};
    proxy_temp_path ${p('proxy')};
    fastcgi_temp_path ${p('fastcgi')};
    uwsgi_temp_path ${p('uwsgi')};
    scgi_temp_path ${p('scgi')};
    server {
        listen 127.0.0.1:${port};
        root ${root};
        location / { try_files $uri =404; }
    }
}
`;
}

/**
 * Start nginx (its files under `dir`) serving `root` on a free loopback port, and wait until it
 * answers `probePath` with 200. `workers`: nginx's worker_processes (default auto).
 */
export async function startNginx(nginx: string, dir: string, root: string, probePath: string, workers = 'auto'): Promise<{ proc: Managed; baseUrl: string }> {
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(conf, nginxConfig(dir, port, root, workers));
  // -e: the error log nginx uses before it has read the config (else /var/log/nginx).
  const args = ['-p', dir, '-e', path.join(dir, 'nginx-error.log'), '-c', conf];
  const test = spawnSync(nginx, [...args, '-t'], { encoding: 'utf8' });
  if (test.status !== 0) throw new Error(`nginx rejects its generated config ${conf}:\n${test.stderr}`);
  const proc = launch('nginx', nginx, args, path.join(dir, 'nginx.log'));
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitFor('an answer', proc, async () => (await request(baseUrl + probePath)).status === 200, 20_000);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${tailOf(path.join(dir, 'nginx-error.log'))}`);
  }
  return { proc, baseUrl };
}
