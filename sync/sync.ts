import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { Metadata, MetadataKind, type Root, type Snapshot, type TargetFile, type Targets, type Timestamp } from '@tufjs/models';
import { Updater } from 'tuf-js';
import type { Config, RepositoryConfig } from '../config/config';
import { metadataPath, targetPath } from '../lib/layout';
import type { Logger } from '../lib/log';
import { packageVersion } from '../lib/paths';
import { lockOwner } from '../store/lock-owner';
import { sha256Hex, type GenerationRecord, type NewFile, type RoleSummary, type Store } from '../store/store';
import { classify, SyncError } from './errors';
import { RecordingFetcher, roleOf, SOURCE_BASE_URL } from './fetcher';
import { HttpSource, type Source } from './source';

export type SyncOptions = {
  store: Store;
  repository: RepositoryConfig;
  logger: Logger;
  /** Defaults to the repository's upstream over HTTP. */
  source?: Source;
  requestTimeoutMs?: number;
  maxTargetBytes?: number;
  /** Generations kept in the store after a successful run. */
  keptGenerations?: number;
  /** A sync lock not heartbeaten for this long belonged to a dead process (default 60 s). */
  lockStaleMs?: number;
  /** Cancels the run (failing it as CANCELLED) when the caller shuts down. */
  signal?: AbortSignal;
  /**
   * Accept metadata that has expired (`tuf-mirror import --allow-expired`, for staging and
   * tests). Only expiry is relaxed: tuf-js still checks signatures, thresholds, versions
   * (rollback), lengths and hashes. The generation records the roles that were expired in
   * `summary.expiredMetadataAccepted`, so status and the watch side say so.
   */
  allowExpiredMetadata?: boolean;
};

/** The sync settings of a configuration, for every caller that runs a sync. */
export function configuredSyncOptions(config: Config): Pick<SyncOptions, 'requestTimeoutMs' | 'maxTargetBytes' | 'keptGenerations'> {
  return {
    requestTimeoutMs: config.sync.requestTimeoutSeconds * 1000,
    maxTargetBytes: config.sync.maxTargetBytes,
    keptGenerations: config.retention.keptGenerations,
  };
}

type Totals = { requests: number; bytes: number };

export type SyncResult =
  | ({ outcome: 'updated' | 'unchanged'; runId: number; generation: GenerationRecord } & Totals)
  /** runId is null when no run started: another process holds the repository's sync lock. */
  | ({ outcome: 'failed'; runId: number | null; error: SyncError } & Totals);

/** Identifies this process as a lock holder: host, pid, nonce and what tells a dead holder (store/lock-owner.ts). */
const LOCK_OWNER = lockOwner();

/** tuf-js keeps the verified metadata and the delegated-role loader private; we need both. */
type UpdaterInternals = {
  trustedSet: {
    /** Every expiry check compares against this, taken once when the Updater is built. */
    referenceTime: Date;
    root: Metadata<Root>;
    timestamp?: Metadata<Timestamp>;
    snapshot?: Metadata<Snapshot>;
    targets?: Metadata<Targets>;
  };
  loadTargets(role: string, parentRole: string): Promise<Metadata<Targets> | undefined>;
};
const internals = (updater: Updater): UpdaterInternals => updater as unknown as UpdaterInternals;

// One sync per repository at a time in this process. `explicit`: the run reads a source of its
// own (an import archive), so it is not the same work as a sync from the upstream.
const running = new Map<string, { run: Promise<SyncResult>; explicit: boolean }>();

/**
 * Run the TUF client workflow against the repository's source, from the newest root we hold
 * (or the trust anchor), and commit every verified file as a new generation. Never throws for
 * upstream trouble: a failed run is recorded and returned, and the served generation stays.
 */
export function syncRepository(options: SyncOptions): Promise<SyncResult> {
  const name = options.repository.name;
  const inFlight = running.get(name);
  // A sync from the upstream joins one already running; an import never joins nor is joined (its
  // result belongs to its archive). Both share this process's lock owner, so refuse, not overlap.
  if (inFlight && !inFlight.explicit && !options.source) return inFlight.run;
  if (inFlight) {
    const error = new SyncError('SYNC_IN_PROGRESS', `a sync or import of ${name} is already running in this process`);
    return Promise.resolve({ outcome: 'failed', runId: null, error, requests: 0, bytes: 0 });
  }
  const run = runSync(options).finally(() => running.delete(name));
  running.set(name, { run, explicit: !!options.source });
  return run;
}

async function runSync(options: SyncOptions): Promise<SyncResult> {
  const { store, repository, logger } = options;
  const source =
    options.source ??
    new HttpSource(repository.upstream, { timeoutMs: options.requestTimeoutMs ?? 30_000, userAgent: `tuf-mirror/${packageVersion()}` });
  store.ensureRepository(repository.name, repository.upstream);
  const staleMs = options.lockStaleMs ?? 60_000;
  if (!store.acquireSyncLock(repository.name, LOCK_OWNER, staleMs)) {
    const error = new SyncError('SYNC_IN_PROGRESS', `another process is syncing ${repository.name} from this data dir`);
    logger.info({ repository: repository.name }, error.message);
    return { outcome: 'failed', runId: null, error, requests: 0, bytes: 0 };
  }
  const heartbeat = setInterval(() => store.heartbeatSyncLock(repository.name, LOCK_OWNER), Math.max(50, staleMs / 4));
  heartbeat.unref();
  try {
    return await lockedSync(options, source);
  } finally {
    clearInterval(heartbeat);
    store.releaseSyncLock(repository.name, LOCK_OWNER);
  }
}

async function lockedSync(options: SyncOptions, source: Source): Promise<SyncResult> {
  const { store, repository, logger } = options;
  const runId = store.startSyncRun(repository.name, source.description);
  const fetcher = new RecordingFetcher(source, options.signal);
  const totals = (): Totals => ({ requests: fetcher.requests, bytes: fetcher.bytes });
  const log = logger.child({ repository: repository.name, run: runId });

  const tmpRoot = path.join(store.dataDir, 'tmp');
  fs.mkdirSync(tmpRoot, { recursive: true });
  removeStaleWorkDirs(tmpRoot);
  const workDir = fs.mkdtempSync(path.join(tmpRoot, `sync-${repository.name}-`));
  try {
    // A source that must be read or checked as a whole (an import archive) does it here, so
    // that its failures are the run's, not those of the first file asked for.
    await source.open?.();
    const files = await verifiedFiles(options, source, fetcher, workDir);
    const current = store.currentGeneration(repository.name);
    if (current && sameFiles(store.generationFiles(current.id), files.files)) {
      store.finishSyncRun(runId, 'unchanged', totals());
      log.info({ generation: current.id, ...totals() }, 'sync: upstream unchanged');
      return { outcome: 'unchanged', runId, generation: current, ...totals() };
    }
    const generation = store.commitGeneration(repository.name, runId, files, totals());
    log.info({ generation: generation.id, roles: generation.summary.roles, ...totals() }, 'sync: new generation');
    store.prune(repository.name, options.keptGenerations ?? 100);
    return { outcome: 'updated', runId, generation, ...totals() };
  } catch (err) {
    const error = withExpiry(fetcher.failure ?? classify(err, fetcher.lastPath && roleOf(fetcher.lastPath)), fetcher);
    store.finishSyncRun(runId, 'failed', totals(), { code: error.code, message: error.message, role: error.role });
    log.warn({ code: error.code, role: error.role, err: error.message, ...totals() }, 'sync failed; the last good generation is still served');
    return { outcome: 'failed', runId, error, ...totals() };
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

/** An expiry error names the date too: "timestamp v762 expired 2026-08-28T19:25:56Z". */
function withExpiry(error: SyncError, fetcher: RecordingFetcher): SyncError {
  if (error.code !== 'EXPIRED_METADATA' || !error.role) return error;
  if (error.message.startsWith(`${error.role} v`)) return error; // already named (an expired root, see verifiedFiles)
  for (const [rel, bytes] of [...fetcher.fetched].reverse()) {
    if (roleOf(rel) !== error.role) continue;
    try {
      const { signed } = JSON.parse(bytes.toString('utf8')) as { signed: { version: number; expires: string } };
      return new SyncError(error.code, `${error.role} v${signed.version} expired ${signed.expires} (${error.message})`, error.role, { cause: error.cause });
    } catch {
      break;
    }
  }
  return error;
}

/** Work dirs of syncs killed mid-run; an hour is far longer than any live sync keeps one. */
function removeStaleWorkDirs(tmpRoot: string): void {
  const cutoff = Date.now() - 60 * 60 * 1000;
  for (const entry of fs.readdirSync(tmpRoot)) {
    const dir = path.join(tmpRoot, entry);
    try {
      if (entry.startsWith('sync-') && fs.statSync(dir).mtimeMs < cutoff) fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // Another process removed it first.
    }
  }
}

function readAnchor(file: string): { bytes: Buffer; root: Metadata<Root> } {
  try {
    const bytes = fs.readFileSync(file);
    const root = Metadata.fromJSON(MetadataKind.Root, JSON.parse(bytes.toString('utf8')));
    return { bytes, root };
  } catch (err) {
    throw new SyncError('TRUST_ANCHOR_INVALID', `trust anchor ${file} is not a TUF root: ${(err as Error).message}`, 'root', { cause: err });
  }
}

/** The client workflow proper: everything it returns was accepted by tuf-js or checked against signed hashes. */
async function verifiedFiles(options: SyncOptions, source: Source, fetcher: RecordingFetcher, workDir: string) {
  const { store, repository } = options;
  const anchor = readAnchor(repository.trustAnchor);

  // Root history we hold, verified by earlier runs from this anchor.
  const roots = new Map<number, Buffer>();
  for (const r of store.roots(repository.name)) roots.set(r.version, store.blob(r.sha256)!);
  const held = roots.get(anchor.root.signed.version);
  if (held && !sameSigned(held, anchor.root)) {
    throw new SyncError(
      'TRUST_ANCHOR_INVALID',
      `trust anchor ${repository.trustAnchor} (root v${anchor.root.signed.version}) differs from the root v${anchor.root.signed.version} this mirror verified before: a different repository?`,
      'root',
    );
  }
  if (!held) roots.set(anchor.root.signed.version, anchor.bytes);
  const newestHeld = Math.max(...roots.keys());
  const startVersion = Math.max(newestHeld, anchor.root.signed.version);
  fs.writeFileSync(path.join(workDir, 'root.json'), roots.get(startVersion)!);

  // Seed the metadata we already serve: tuf-js then re-fetches only what changed, and keeps its
  // rollback checks against our versions.
  const seeded = new Map<string, Buffer>();
  const current = store.currentGeneration(repository.name);
  if (current) {
    const currentFiles = store.generationFiles(current.id);
    for (const { role } of current.summary.roles) {
      const sha = currentFiles.get(metadataPath(role));
      if (role === 'root' || !sha || role.includes('/')) continue;
      const bytes = store.blob(sha)!;
      seeded.set(role, bytes);
      fs.writeFileSync(path.join(workDir, metadataPath(role)), bytes);
    }
  }

  const updater = new Updater({
    metadataDir: workDir,
    metadataBaseUrl: SOURCE_BASE_URL,
    targetBaseUrl: `${SOURCE_BASE_URL}/targets`,
    fetcher,
    config: { fetchRetry: 0 },
  });
  // allowExpiredMetadata: tuf-js compares every `expires` with this one reference time; the
  // earliest representable date makes nothing expired and changes no other check.
  if (options.allowExpiredMetadata) internals(updater).trustedSet.referenceTime = new Date(-8.64e15);
  try {
    await updater.refresh();
  } catch (err) {
    // "Final root.json is expired" names no date, and the root may not have been downloaded in
    // this run (an import into a mirror that already holds it): name it from the trusted root.
    const root = internals(updater).trustedSet.root.signed;
    if (/Final root\.json is expired/.test(err instanceof Error ? err.message : '')) {
      throw new SyncError('EXPIRED_METADATA', `root v${root.version} expired ${root.expires} (Final root.json is expired)`, 'root', { cause: err });
    }
    throw err;
  }
  const trusted = internals(updater).trustedSet;
  const consistent = trusted.root.signed.consistentSnapshot;

  // Every root fetched in a successful refresh was verified by its predecessor, in order.
  for (const [rel, bytes] of fetcher.fetched) {
    const m = /^(\d+)\.root\.json$/.exec(rel);
    if (m) roots.set(Number(m[1]), bytes);
  }
  const newestRoot = trusted.root.signed.version;
  if (!roots.has(newestRoot)) throw new SyncError('INTERNAL', `verified root v${newestRoot} was not recorded`, 'root');

  const delegated = await walkDelegations(updater, trusted.targets!);
  const roles: { role: string; metadata: Metadata<Timestamp | Snapshot | Targets> }[] = [
    { role: 'timestamp', metadata: trusted.timestamp! },
    { role: 'snapshot', metadata: trusted.snapshot! },
    { role: 'targets', metadata: trusted.targets! },
    ...delegated.map((d) => ({ role: d.role, metadata: d.metadata as Metadata<Targets> })),
  ];

  const files: NewFile[] = [];
  const add = (p: string, bytes: Buffer): void => {
    if (!files.some((f) => f.path === p)) files.push({ path: p, bytes });
  };
  const rootVersions = [...roots.keys()].sort((a, b) => a - b).filter((v) => v <= newestRoot);
  for (const v of rootVersions) add(metadataPath('root', v), roots.get(v)!);
  add(metadataPath('root'), roots.get(newestRoot)!);

  const summaries: RoleSummary[] = [{ role: 'root', version: newestRoot, expires: trusted.root.signed.expires }];
  for (const { role, metadata } of roles) summaries.push({ role, version: metadata.signed.version, expires: metadata.signed.expires });
  // tuf-js treats an unparseable `expires` as never expiring; other clients reject it. So do we.
  for (const s of summaries) {
    if (Number.isNaN(Date.parse(s.expires))) throw new SyncError('MALFORMED_METADATA', `${s.role} v${s.version}: expires "${s.expires}" is not a date`, s.role);
  }
  for (const { role, metadata } of roles) {
    const bytes = acceptedBytes(workDir, role, metadata.signed.version, fetcher, seeded);
    if (role !== 'timestamp') add(metadataPath(role, metadata.signed.version), bytes);
    add(metadataPath(role), bytes);
  }

  // Target files: every target of every role, checked against the hashes its role signed.
  const targetNames: string[] = [];
  for (const { role, metadata, parent } of [{ role: 'targets', metadata: trusted.targets!, parent: undefined }, ...delegated]) {
    for (const [name, info] of Object.entries(metadata.signed.targets)) {
      if (parent && ![...parent.signed.delegations!.rolesForTarget(name)].some((r) => r.role === role)) continue;
      const bytes = await targetBytes(options, fetcher, info, consistent);
      for (const hash of Object.values(info.hashes)) add(targetPath(name, hash), bytes);
      if (!targetNames.includes(name)) {
        targetNames.push(name);
        add(targetPath(name), bytes);
      }
    }
  }

  return {
    files,
    roots: rootVersions.map((v) => ({ version: v, bytes: roots.get(v)!, expires: rootExpires(roots.get(v)!) })),
    versions: {
      root: newestRoot,
      timestamp: trusted.timestamp!.signed.version,
      snapshot: trusted.snapshot!.signed.version,
      targets: trusted.targets!.signed.version,
    },
    summary: { roles: summaries, rootVersions, targets: targetNames.sort(), ...expiredAccepted(options, summaries) },
  };
}

/** With allowExpiredMetadata, the roles that were expired when accepted (none: no field at all). */
function expiredAccepted(options: SyncOptions, roles: RoleSummary[]): { expiredMetadataAccepted?: RoleSummary[] } {
  if (!options.allowExpiredMetadata) return {};
  const expired = roles.filter((r) => Date.parse(r.expires) <= Date.now());
  return expired.length ? { expiredMetadataAccepted: expired } : {};
}

type DelegatedRoleMetadata = { role: string; metadata: Metadata<Targets>; parent: Metadata<Targets> };

/**
 * Load and verify every delegated targets role, in the preorder a client walks them. tuf-js
 * only walks delegations on the way to one target path; a mirror needs all of them.
 */
async function walkDelegations(updater: Updater, top: Metadata<Targets>): Promise<DelegatedRoleMetadata[]> {
  const found: DelegatedRoleMetadata[] = [];
  const visited = new Set<string>(['targets']);
  const visit = async (parentName: string, parent: Metadata<Targets>): Promise<void> => {
    const delegations = parent.signed.delegations;
    if (!delegations) return;
    const children = delegations.roles ? Object.keys(delegations.roles) : [...(delegations.succinctRoles?.getRoles() ?? [])];
    for (const child of children) {
      if (visited.has(child)) continue;
      visited.add(child);
      let metadata: Metadata<Targets> | undefined;
      try {
        metadata = await internals(updater).loadTargets(child, parentName);
      } catch (err) {
        throw classify(err, child);
      }
      if (!metadata) continue;
      found.push({ role: child, metadata, parent });
      await visit(child, metadata);
    }
  };
  await visit('targets', top);
  return found;
}

/**
 * The exact bytes tuf-js accepted for a role. tuf-js persists what it accepts (as UTF-8 text),
 * so the persisted file is the verdict; the bytes we serve are the downloaded or seeded ones
 * that equal it, byte for byte.
 */
function acceptedBytes(workDir: string, role: string, version: number, fetcher: RecordingFetcher, seeded: Map<string, Buffer>): Buffer {
  const persisted = fs.readFileSync(path.join(workDir, `${encodeURIComponent(role)}.json`));
  const candidates = [fetcher.fetched.get(metadataPath(role, version)), fetcher.fetched.get(metadataPath(role)), seeded.get(role)];
  const match = candidates.find((c) => c?.equals(persisted));
  if (!match) throw new SyncError('MALFORMED_METADATA', `${role} v${version}: accepted metadata is not byte-identical to what was downloaded (not UTF-8?)`, role);
  return match;
}

async function targetBytes(options: SyncOptions, fetcher: RecordingFetcher, info: TargetFile, consistent: boolean): Promise<Buffer> {
  const role = `targets/${info.path}`;
  const sha = info.hashes.sha256;
  // Content addressed: a blob we hold under the signed sha256 was verified when it was stored.
  if (sha) {
    const held = options.store.blob(sha);
    if (held && held.length === info.length) return held;
  }
  const max = options.maxTargetBytes ?? 64 * 1024 * 1024;
  if (info.length > max) throw new SyncError('RESPONSE_TOO_LARGE', `${info.path} is ${info.length} bytes, over the ${max} allowed`, role);
  const rel = consistent ? targetPath(info.path, Object.values(info.hashes)[0]) : targetPath(info.path);
  const bytes = await fetcher.downloadBytes(`${SOURCE_BASE_URL}/${rel.split('/').map(encodeURIComponent).join('/')}`, info.length, role);
  try {
    await info.verify(Readable.from([bytes]));
  } catch (err) {
    throw classify(err, role);
  }
  return bytes;
}

function sameSigned(bytes: Buffer, root: Metadata<Root>): boolean {
  try {
    return Metadata.fromJSON(MetadataKind.Root, JSON.parse(bytes.toString('utf8'))).signed.equals(root.signed);
  } catch {
    return false;
  }
}

function rootExpires(bytes: Buffer): string {
  return (JSON.parse(bytes.toString('utf8')) as { signed: { expires: string } }).signed.expires;
}

function sameFiles(held: Map<string, string>, files: NewFile[]): boolean {
  return held.size === files.length && files.every((f) => held.get(f.path) === sha256Hex(f.bytes));
}
