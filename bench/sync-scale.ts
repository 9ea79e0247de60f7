/**
 * Sync cost against repository size: a first sync, a no-op sync and a sync where one target
 * changed, for repositories of N small targets, each against a reference measured in the same run.
 *
 *   npm run bench:sync-scale                       # N = 1000, 10000, 50000, flat and hash-bin
 *   BENCH_SIZES=1000,5000 BENCH_VARIANTS=flat npm run bench:sync-scale
 *
 * The upstream is a TUF repository generated here (ed25519 keys, consistent snapshots, 1 KiB
 * targets) and served by nginx from disk, so it costs the mirror's process nothing. Every sync is
 * a real `tuf-mirror sync` process; its wall time and peak RSS are measured from outside (the RSS
 * through a preload that reports `process.resourceUsage().maxRSS` at exit).
 *
 * References, all in this run:
 * - first sync: a client that downloads the same files over the same number of connections and
 *   checks nothing but each file's sha256 (the floor for any verifying client);
 * - no-op sync: the no-op sync of a repository of 10 targets (flat: the cost must not grow with N);
 * - one target changed: the no-op sync at the same N.
 */
import { canonicalize } from '@tufjs/canonical-json';
import { Key, MetaFile, Metadata, Root, Signature, Snapshot, TargetFile, Targets, Timestamp } from '@tufjs/models';
import { Delegations } from '@tufjs/models/dist/delegations';
import { Role, SuccinctRoles } from '@tufjs/models/dist/role';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CLI,
  benchMain,
  findExecutable,
  fmt,
  fmtRatio,
  freePort,
  launch,
  machineLine,
  median,
  mib,
  progress,
  request,
  runToEnd,
  startNginx,
  stop,
  table,
  tempDir,
  UsageError,
  envNumber,
  waitFor,
  type Managed,
} from './lib';

type Variant = 'flat' | 'hash-bin';
const SIZES = (process.env.BENCH_SIZES ?? '1000,10000,50000').split(',').map((s) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`BENCH_SIZES: ${s} is not a positive integer`);
  return n;
});
const VARIANTS = (process.env.BENCH_VARIANTS ?? 'flat,hash-bin').split(',').map((v) => {
  if (v !== 'flat' && v !== 'hash-bin') throw new UsageError(`BENCH_VARIANTS: ${v} is not flat or hash-bin`);
  return v as Variant;
});
/** Connections of the reference client; the mirror gets the same through sync.downloadConcurrency. */
const CONCURRENCY = envNumber('BENCH_CONCURRENCY', 6, { integer: true, min: 1 });
const ROUNDS = envNumber('BENCH_ROUNDS', 3, { integer: true, min: 1 });
const TARGET_BYTES = 1024;
const BIN_BITS = 8; // 256 hash-bin roles
/** TUF dates carry no fraction of a second. */
const EXPIRES = new Date(Date.now() + 365 * 86400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const common = (version: number) => ({ version, specVersion: '1.0.31', expires: EXPIRES });

// ---------------------------------------------------------------------------------------------
// A TUF repository on disk, written the way an upstream publishes it.

type SigningKey = { key: Key; privateKey: crypto.KeyObject };

function newKey(): SigningKey {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('hex');
  const keyval = { public: raw };
  const keyID = crypto.createHash('sha256').update(canonicalize({ keytype: 'ed25519', keyval, scheme: 'ed25519' })).digest('hex');
  return { key: new Key({ keyID, keyType: 'ed25519', scheme: 'ed25519', keyVal: keyval }), privateKey };
}

function signed<T extends Root | Targets | Snapshot | Timestamp>(signedPart: T, key: SigningKey): Buffer {
  const metadata = new Metadata(signedPart);
  metadata.sign((data) => new Signature({ keyID: key.key.keyID, sig: crypto.sign(null, data, key.privateKey).toString('hex') }));
  return Buffer.from(JSON.stringify(metadata.toJSON()));
}

const sha256 = (bytes: Buffer): string => crypto.createHash('sha256').update(bytes).digest('hex');

class DiskRepository {
  private readonly keys = { root: newKey(), timestamp: newKey(), snapshot: newKey(), targets: newKey(), bins: newKey() };
  private readonly contents = new Map<string, Buffer>();
  private readonly roleVersions = new Map<string, number>();
  private snapshotVersion = 0;
  private timestampVersion = 0;
  private readonly succinct?: SuccinctRoles;

  constructor(
    readonly dir: string,
    readonly variant: Variant,
    size: number,
  ) {
    fs.mkdirSync(path.join(dir, 'targets'), { recursive: true });
    if (variant === 'hash-bin') {
      this.succinct = new SuccinctRoles({ keyIDs: [this.keys.bins.key.keyID], threshold: 1, bitLength: BIN_BITS, namePrefix: 'bin' });
    }
    for (let i = 0; i < size; i++) this.contents.set(`file-${String(i).padStart(6, '0')}.bin`, crypto.randomBytes(TARGET_BYTES));
    const root = new Root({
      ...common(1),
      consistentSnapshot: true,
      keys: Object.fromEntries(Object.values(this.keys).map((k) => [k.key.keyID, k.key])),
      roles: {
        root: new Role({ keyIDs: [this.keys.root.key.keyID], threshold: 1 }),
        timestamp: new Role({ keyIDs: [this.keys.timestamp.key.keyID], threshold: 1 }),
        snapshot: new Role({ keyIDs: [this.keys.snapshot.key.keyID], threshold: 1 }),
        targets: new Role({ keyIDs: [this.keys.targets.key.keyID], threshold: 1 }),
      },
    });
    const rootBytes = signed(root, this.keys.root);
    fs.writeFileSync(path.join(dir, '1.root.json'), rootBytes);
    fs.writeFileSync(path.join(dir, 'root.json'), rootBytes);
    for (const [name, bytes] of this.contents) this.writeTarget(name, bytes);
    this.publish(this.succinct ? ['targets', ...this.succinct.getRoles()] : ['targets']);
  }

  get anchor(): string {
    return path.join(this.dir, '1.root.json');
  }

  /** Replace one target's bytes and publish the roles that change with it. */
  changeOne(): void {
    const name = this.contents.keys().next().value as string;
    const bytes = crypto.randomBytes(TARGET_BYTES);
    this.contents.set(name, bytes);
    this.writeTarget(name, bytes);
    this.publish([this.succinct ? this.succinct.getRoleForTarget(name) : 'targets']);
  }

  private writeTarget(name: string, bytes: Buffer): void {
    fs.writeFileSync(path.join(this.dir, 'targets', `${sha256(bytes)}.${name}`), bytes);
  }

  private targetFile(name: string): TargetFile {
    const bytes = this.contents.get(name);
    if (!bytes) throw new Error(`no target ${name}`);
    return new TargetFile({ path: name, length: bytes.length, hashes: { sha256: sha256(bytes) } });
  }

  private publish(changedRoles: string[]): void {
    for (const role of changedRoles) {
      const version = (this.roleVersions.get(role) ?? 0) + 1;
      this.roleVersions.set(role, version);
      let bytes: Buffer;
      if (role === 'targets') {
        const targets = this.succinct ? {} : Object.fromEntries([...this.contents.keys()].map((n) => [n, this.targetFile(n)]));
        const delegations = this.succinct
          ? new Delegations({ keys: { [this.keys.bins.key.keyID]: this.keys.bins.key }, succinctRoles: this.succinct })
          : undefined;
        bytes = signed(new Targets({ ...common(version), targets, delegations }), this.keys.targets);
      } else {
        const succinct = this.succinct;
        if (!succinct) throw new Error(`no role ${role}`);
        const mine = [...this.contents.keys()].filter((n) => succinct.getRoleForTarget(n) === role);
        bytes = signed(new Targets({ ...common(version), targets: Object.fromEntries(mine.map((n) => [n, this.targetFile(n)])) }), this.keys.bins);
      }
      fs.writeFileSync(path.join(this.dir, `${version}.${role}.json`), bytes);
    }
    this.snapshotVersion++;
    const meta = Object.fromEntries([...this.roleVersions].map(([role, version]) => [`${role}.json`, new MetaFile({ version })]));
    fs.writeFileSync(
      path.join(this.dir, `${this.snapshotVersion}.snapshot.json`),
      signed(new Snapshot({ ...common(this.snapshotVersion), meta }), this.keys.snapshot),
    );
    this.timestampVersion++;
    fs.writeFileSync(
      path.join(this.dir, 'timestamp.json'),
      signed(
        new Timestamp({ ...common(this.timestampVersion), snapshotMeta: new MetaFile({ version: this.snapshotVersion }) }),
        this.keys.timestamp,
      ),
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Measured runs

type Run = { seconds: number; rssBytes: number; requests?: number };

/** Writes the process's peak RSS to the file named by BENCH_RSS_FILE when it exits. */
const RSS_PRELOAD = `
const fs = require('node:fs');
process.on('exit', () => fs.writeFileSync(process.env.BENCH_RSS_FILE, String(process.resourceUsage().maxRSS * 1024)));
`;

async function timedNode(name: string, args: string[], work: string, env: Record<string, string> = {}): Promise<{ run: Run; stdout: string }> {
  const rssFile = path.join(work, `${name}.rss`);
  const preload = path.join(work, 'rss-preload.js');
  if (!fs.existsSync(preload)) fs.writeFileSync(preload, RSS_PRELOAD);
  const started = process.hrtime.bigint();
  const r = await runToEnd(name, process.execPath, ['-r', preload, ...args], { ...process.env, ...env, BENCH_RSS_FILE: rssFile });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.code !== 0) throw new Error(`${name} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return { run: { seconds, rssBytes: Number(fs.readFileSync(rssFile, 'utf8')) }, stdout: r.stdout };
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

function writeConfig(work: string, upstream: string, anchor: string): string {
  const file = path.join(work, 'config.yaml');
  fs.writeFileSync(
    file,
    [
      `dataDir: ${path.join(work, 'data')}`,
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

type Row = { variant: Variant; size: number; reference: Run; first: Run; noop: Run; changed: Run };

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
    const references: Run[] = [];
    for (let i = 0; i < ROUNDS; i++) references.push((await timedNode('reference', [clientFile, server.baseUrl, list, String(CONCURRENCY)], work)).run);

    const config = writeConfig(work, server.baseUrl, repo.anchor);
    const sync = async (label: string): Promise<Run> => (await timedNode(label, [CLI, 'sync', '--config', config], work)).run;
    progress(`${variant} N=${size}: first sync`);
    const first = await sync('first');
    const noops: Run[] = [];
    for (let i = 0; i < ROUNDS; i++) noops.push(await sync('noop'));
    progress(`${variant} N=${size}: one target changed`);
    repo.changeOne();
    const changed = await sync('changed');
    return { variant, size, reference: medianRun(references), first, noop: medianRun(noops), changed };
  } finally {
    await stop(server.proc);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function medianRun(runs: Run[]): Run {
  return { seconds: median(runs.map((r) => r.seconds)), rssBytes: Math.max(...runs.map((r) => r.rssBytes)) };
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
    `sync cost against repository size (${machineLine()})`,
    `  ${CONCURRENCY} connections; 1 KiB targets; nginx upstream on loopback; median of ${ROUNDS} for the reference and no-op runs`,
    '',
    table(
      ['variant', 'N', 'first s', 'reference s', 'first/ref', 'no-op s', 'no-op/no-op@10', 'one changed s', 'changed/no-op', 'peak RSS MiB'],
      rows.map((r) => {
        const s = small.get(r.variant);
        return [
          r.variant === 'hash-bin' ? `hash-bin (${2 ** BIN_BITS} roles)` : 'flat',
          String(r.size),
          fmt(r.first.seconds, 2),
          fmt(r.reference.seconds, 2),
          fmtRatio(r.first.seconds / r.reference.seconds),
          fmt(r.noop.seconds, 2),
          s ? fmtRatio(r.noop.seconds / s.noop.seconds) : '-',
          fmt(r.changed.seconds, 2),
          fmtRatio(r.changed.seconds / r.noop.seconds),
          mib(Math.max(r.first.rssBytes, r.noop.rssBytes, r.changed.rssBytes)),
        ];
      }),
      [false, true, true, true, true, true, true, true, true, true],
    ),
    '',
    'goals: first/ref <= 1.5x; no-op/no-op@10 <= 1.5x (flat); changed/no-op <= 2x',
  ];
  return lines.join('\n') + '\n';
}
