import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config, RepositoryConfig } from '../config/config';
import type { Logger } from '../lib/log';
import { packageVersion } from '../lib/paths';
import { lockOwner } from '../store/lock-owner';
import type { GenerationRecord, NewGeneration, RoleProblem, RoleSummary, Store, SyncProblems, TargetProblem } from '../store/store';
import { backfillResolvedTargets } from './backfill';
import { SyncError } from './errors';
import { Downloader } from './fetcher';
import { HttpSource, type Source } from './source';
import { EARLIEST_DATE } from './tuf-client';
import { walkRepository } from './walk';
import type { WalkedGeneration } from './walk-types';

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
  /** Delegated roles mirrored at most (sync.maxDelegatedRoles, default 1024); also caps a succinct delegation's bins. */
  maxDelegatedRoles?: number;
  /** Target files downloaded at once (sync.downloadConcurrency, default 6). */
  downloadConcurrency?: number;
  /** Cancels the run (failing it as CANCELLED) when the caller shuts down. */
  signal?: AbortSignal;
  /**
   * Accept metadata that has expired (`tuf-mirror import --allow-expired`, for staging and
   * tests). Only expiry is relaxed: signatures, thresholds, versions (rollback), lengths and
   * hashes are all still checked. The generation records the roles that were expired in
   * `summary.expiredMetadataAccepted`, so status and the watch side say so.
   */
  allowExpiredMetadata?: boolean;
  /** Called with each file read from the source, as it arrives (the CLI's progress display). */
  onFile?: (path: string, bytes: number) => void;
};

/** The sync settings of a configuration, for every caller that runs a sync. */
export function configuredSyncOptions(config: Config): Pick<SyncOptions, 'requestTimeoutMs' | 'maxTargetBytes' | 'keptGenerations' | 'maxDelegatedRoles' | 'downloadConcurrency'> {
  return {
    requestTimeoutMs: config.sync.requestTimeoutSeconds * 1000,
    maxTargetBytes: config.sync.maxTargetBytes,
    keptGenerations: config.retention.keptGenerations,
    maxDelegatedRoles: config.sync.maxDelegatedRoles,
    downloadConcurrency: config.sync.downloadConcurrency,
  };
}

type Totals = { requests: number; bytes: number };

export type SyncResult =
  | ({ outcome: 'updated' | 'unchanged'; runId: number; generation: GenerationRecord } & Totals)
  /** runId is null when no run started: another process holds the repository's sync lock. */
  | ({ outcome: 'failed'; runId: number | null; error: SyncError } & Totals);

/** Identifies this process as a lock holder: host, pid, nonce and what tells a dead holder (store/lock-owner.ts). */
const LOCK_OWNER = lockOwner();

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
  const source = options.source ?? new HttpSource(repository.upstream, { timeoutMs: options.requestTimeoutMs ?? 30_000, userAgent: `tuf-mirror/${packageVersion()}` });
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
    if (!options.source) source.close?.();
    clearInterval(heartbeat);
    store.releaseSyncLock(repository.name, LOCK_OWNER);
  }
}

async function lockedSync(options: SyncOptions, source: Source): Promise<SyncResult> {
  const { store, repository, logger } = options;
  const runId = store.startSyncRun(repository.name, source.description);
  const downloader = new Downloader(source, options.signal, options.onFile);
  const totals = (): Totals => ({ requests: downloader.requests, bytes: downloader.bytes });
  const log = logger.child({ repository: repository.name, run: runId });

  const tmpRoot = path.join(store.dataDir, 'tmp');
  fs.mkdirSync(tmpRoot, { recursive: true });
  removeStaleWorkDirs(tmpRoot);
  // A generation committed before target resolutions were recorded gets them now, from its own
  // verified metadata: the verifier and the watch read targets only through them, even if this
  // run then fails (an air-gapped mirror whose upstream is unreachable).
  await backfillResolvedTargets(store, repository, runId, log);
  const logProblems = (problems: SyncProblems): void => {
    for (const p of problems.failedRoles) log.warn({ role: p.role, code: p.code, servedVersion: p.servedVersion }, `sync: delegated role not mirrored: ${p.message}`);
    for (const p of problems.refusedTargets) log.warn({ target: p.name, role: p.role, code: p.code }, `sync: target refused: ${p.message}`);
  };
  const unchanged = (current: GenerationRecord, problems: SyncProblems): SyncResult => {
    store.finishSyncRun(runId, 'unchanged', totals(), undefined, problems);
    log.info({ generation: current.id, ...totals() }, 'sync: upstream unchanged');
    return { outcome: 'unchanged', runId, generation: current, ...totals() };
  };
  try {
    // A source that must be read or checked as a whole (an import archive) does it here, so
    // that its failures are the run's, not those of the first file asked for.
    await source.open?.();
    const walked = await walkRepository({
      store,
      repository,
      downloader,
      referenceTime: options.allowExpiredMetadata ? EARLIEST_DATE : new Date(),
      maxTargetBytes: options.maxTargetBytes ?? 64 * 1024 * 1024,
      maxDelegatedRoles: options.maxDelegatedRoles ?? 1024,
      runId,
      downloadConcurrency: options.downloadConcurrency ?? 6,
      // What the held generation proved was judged by the clock: an import that relaxes expiry proves everything anew.
      shortcuts: !options.allowExpiredMetadata,
    });
    const current = store.currentGeneration(repository.name);
    if (walked.kind === 'unchanged') {
      if (!current) throw new SyncError('INTERNAL', 'the walk found the held timestamp, but nothing is held');
      // What the held generation could not mirror, it still cannot: the same problems, found again.
      logProblems(problemsOf(current.summary));
      return unchanged(current, problemsOf(current.summary));
    }
    const { kind: _walked, fileSetKey: _key, ...generation } = walked;
    const next: NewGeneration = { ...generation, summary: { ...walked.summary, ...expiredAccepted(options, walked.summary.roles) } };
    const problems = problemsOf(next.summary);
    logProblems(problems);
    if (current && sameGeneration(store, current, walked)) return unchanged(current, problems);
    const committed = store.commitGeneration(repository.name, runId, next, totals());
    log.info({ generation: committed.id, roles: committed.summary.roles, ...totals() }, 'sync: new generation');
    store.prune(repository.name, options.keptGenerations ?? 100);
    return { outcome: 'updated', runId, generation: committed, ...totals() };
  } catch (err) {
    const error = err instanceof SyncError ? err : new SyncError('INTERNAL', err instanceof Error ? err.message : String(err), undefined, { cause: err });
    store.finishSyncRun(runId, 'failed', totals(), { code: error.code, message: error.message, role: error.role });
    log.warn({ code: error.code, role: error.role, err: error.message, ...totals() }, 'sync failed; the last good generation is still served');
    return { outcome: 'failed', runId, error, ...totals() };
  }
}

/** Work dirs and upload spools of processes killed mid-run; an hour is far longer than any live run keeps one. */
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

/** With allowExpiredMetadata, the roles that were expired when accepted (none: no field at all). */
function expiredAccepted(options: SyncOptions, roles: RoleSummary[]): { expiredMetadataAccepted?: RoleSummary[] } {
  if (!options.allowExpiredMetadata) return {};
  const expired = roles.filter((r) => Date.parse(r.expires) <= Date.now());
  return expired.length ? { expiredMetadataAccepted: expired } : {};
}

function problemsOf(summary: { failedRoles?: RoleProblem[]; refusedTargets?: TargetProblem[] }): SyncProblems {
  return { failedRoles: summary.failedRoles ?? [], refusedTargets: summary.refusedTargets ?? [] };
}

/**
 * Nothing new: the same timestamp.json over the same file set (blocks are named by their files
 * and resolutions, so equal names are equal contents), and the same problems.
 */
function sameGeneration(store: Store, current: GenerationRecord, next: WalkedGeneration): boolean {
  if (current.summary.resolvedTargets === undefined) return false;
  const body = store.generationBody(current.id);
  if (body?.fileSetKey !== next.fileSetKey || body.headKey !== next.head.key) return false;
  const problems = (s: { failedRoles?: unknown; refusedTargets?: unknown }) => JSON.stringify([s.failedRoles ?? [], s.refusedTargets ?? []]);
  return problems(current.summary) === problems(next.summary);
}
