import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { lengthOrHashMismatch } from '../lib/hashes';
import { isVersionedPath } from '../lib/layout';
import { redactUrl } from '../lib/log';
import { migrate } from './migrations';

export const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

export type RoleSummary = { role: string; version: number; expires: string };

/** What a target name resolves to by TUF's search: the TargetFile a client accepts, and the role that signed it. */
export type TargetInfo = {
  name: string;
  role: string;
  length: number;
  /** Every hash the role signed, algorithm → lowercase hex. */
  hashes: Record<string, string>;
  /** The TargetFile's `custom` field, when it has one. */
  custom?: Record<string, unknown>;
};

/** A resolved target and its bytes, checked against every signed hash and the length when read. */
export type ResolvedTarget = { info: TargetInfo; bytes: Buffer };

/**
 * A delegated role the run could not mirror (expired, badly signed, missing, rolled back, an
 * unsafe name, a cap). `servedVersion`: the last verified version, still served from an earlier
 * generation (files only: nothing in it is trusted for the new one); null when none is held.
 */
export type RoleProblem = { role: string; code: string; message: string; servedVersion: number | null };

/** A target name refused (unsafe, malformed, colliding, or its file failed), listed by `role`. */
export type TargetProblem = { name: string; role: string; code: string; message: string };

/** What a run that committed (or found nothing new) could not mirror. */
export type SyncProblems = { failedRoles: RoleProblem[]; refusedTargets: TargetProblem[] };

/** What a generation holds, computed once from verified metadata when it is committed. */
export type GenerationSummary = {
  /** Roles whose metadata the generation serves: top-level, then delegated in search order (failed ones at their last verified version). */
  roles: RoleSummary[];
  rootVersions: number[];
  /** Target names that resolve (store.resolvedTarget), sorted. */
  targets: string[];
  files: number;
  bytes: number;
  /** Roles already expired when this generation was committed (an import with --allow-expired). */
  expiredMetadataAccepted?: RoleSummary[];
  /** How many target names resolve; absent on generations committed before resolution was recorded. */
  resolvedTargets?: number;
  /** Delegated roles not mirrored by the run that committed it (absent: none). */
  failedRoles?: RoleProblem[];
  /** Target names refused by that run (absent: none). */
  refusedTargets?: TargetProblem[];
};

export type GenerationRecord = {
  id: number;
  repository: string;
  createdAt: string;
  syncRunId: number | null;
  rootVersion: number;
  timestampVersion: number;
  snapshotVersion: number;
  targetsVersion: number;
  summary: GenerationSummary;
};

export type SyncOutcome = 'running' | 'updated' | 'unchanged' | 'failed';

export type SyncRunRecord = {
  id: number;
  repository: string;
  source: string;
  startedAt: string;
  finishedAt: string | null;
  outcome: SyncOutcome;
  error: { code: string; message: string; role: string | null } | null;
  requests: number;
  bytes: number;
  generationId: number | null;
  /** Roles and targets the run could not mirror although it succeeded; null when there were none. */
  problems: SyncProblems | null;
};

export type RootRecord = { version: number; sha256: string; expires: string; firstSeenAt: string };

export type EventRecord = {
  id: number;
  repository: string;
  at: string;
  kind: string;
  severity: 'info' | 'warning' | 'critical';
  generationId: number | null;
  data: Record<string, unknown>;
};
export type NewEvent = Omit<EventRecord, 'id' | 'repository' | 'at'> & { at?: string };

/** One file of a new generation, by its path in the upstream layout. */
export type NewFile = { path: string; bytes: Buffer };

/** A resolved target of a new generation; its bytes are also one of its files. */
export type NewResolvedTarget = TargetInfo & { bytes: Buffer };

export type NewGeneration = {
  files: NewFile[];
  roots: { version: number; bytes: Buffer; expires: string }[];
  versions: { root: number; timestamp: number; snapshot: number; targets: number };
  summary: Omit<GenerationSummary, 'files' | 'bytes' | 'resolvedTargets'>;
  resolvedTargets: NewResolvedTarget[];
};

export type RunTotals = { requests: number; bytes: number };
export type RunFailure = { code: string; message: string; role?: string };

/** The files a server should answer with: the current generation plus versioned files it keeps servable. */
export type ServedSet = { generationId: number; files: Map<string, string> };

type GenerationRow = {
  id: number;
  name: string;
  created_at: string;
  sync_run_id: number | null;
  root_version: number;
  timestamp_version: number;
  snapshot_version: number;
  targets_version: number;
  summary: string;
};

type RunRow = {
  id: number;
  name: string;
  source: string;
  started_at: string;
  finished_at: string | null;
  outcome: SyncOutcome;
  error_code: string | null;
  error_message: string | null;
  error_role: string | null;
  requests: number;
  bytes: number;
  generation_id: number | null;
  problems: string | null;
};

type TargetRow = { name: string; role: string; length: number; hashes: string; custom: string | null; sha256: string };

const nowIso = (): string => new Date().toISOString();

/** Tighten a file or directory to `mode`, where it exists and is ours to change (an emptyDir mount may not be). */
function ownerOnly(target: string, mode: number): void {
  try {
    fs.chmodSync(target, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'EPERM') throw err;
  }
}

/**
 * The only module that writes the database. Everything a generation needs is written in one
 * transaction, so a crash at any instant leaves either the old or the new generation current.
 */
export class Store {
  private constructor(
    readonly db: Database.Database,
    readonly dataDir: string,
  ) {}

  static open(dataDir: string): Store {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    ownerOnly(dataDir, 0o700);
    const file = path.join(dataDir, 'tuf-mirror.db');
    // SQLite gives the -wal and -shm files the database file's mode: create it owner-only first.
    fs.closeSync(fs.openSync(file, 'a', 0o600));
    for (const f of [file, `${file}-wal`, `${file}-shm`]) ownerOnly(f, 0o600);
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    // FULL: a committed generation survives power loss too, not only a killed process.
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 10000');
    migrate(db);
    return new Store(db, dataDir);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** The upstream is stored without credentials (they stay in the configuration). */
  ensureRepository(name: string, configuredUpstream: string): number {
    const upstream = redactUrl(configuredUpstream);
    const row = this.db.prepare('SELECT id, upstream FROM repositories WHERE name = ?').get(name) as { id: number; upstream: string } | undefined;
    if (row) {
      if (row.upstream !== upstream) this.db.prepare('UPDATE repositories SET upstream = ? WHERE id = ?').run(upstream, row.id);
      return row.id;
    }
    return Number(this.db.prepare('INSERT INTO repositories (name, upstream, created_at) VALUES (?, ?, ?)').run(name, upstream, nowIso()).lastInsertRowid);
  }

  repositoryCreatedAt(name: string): string | undefined {
    return (this.db.prepare('SELECT created_at FROM repositories WHERE name = ?').get(name) as { created_at: string } | undefined)?.created_at;
  }

  private repositoryId(name: string): number | undefined {
    return (this.db.prepare('SELECT id FROM repositories WHERE name = ?').get(name) as { id: number } | undefined)?.id;
  }

  private requireRepositoryId(name: string): number {
    const id = this.repositoryId(name);
    if (id === undefined) throw new Error(`unknown repository ${name}`);
    return id;
  }

  currentGeneration(repository: string): GenerationRecord | undefined {
    const row = this.db
      .prepare(
        `SELECT g.*, r.name FROM repositories r JOIN generations g ON g.id = r.current_generation_id WHERE r.name = ?`,
      )
      .get(repository) as GenerationRow | undefined;
    return row && toGeneration(row);
  }

  /** Current generation id per repository: a cheap query for readers that poll for switches. */
  currentGenerationIds(): Map<string, number | null> {
    const rows = this.db.prepare('SELECT name, current_generation_id AS id FROM repositories').all() as { name: string; id: number | null }[];
    return new Map(rows.map((r) => [r.name, r.id]));
  }

  generationFiles(generationId: number): Map<string, string> {
    const rows = this.db.prepare('SELECT path, sha256 FROM generation_files WHERE generation_id = ?').all(generationId) as { path: string; sha256: string }[];
    return new Map(rows.map((r) => [r.path, r.sha256]));
  }

  /** Every target name of a generation that resolves, with its signed info, sorted by name. */
  resolvedTargets(generationId: number): TargetInfo[] {
    const rows = this.db.prepare('SELECT * FROM generation_targets WHERE generation_id = ? ORDER BY name').all(generationId) as TargetRow[];
    return rows.map(toTargetInfo);
  }

  /**
   * What `name` resolves to in a generation (by TUF's search, when the generation was committed)
   * and its bytes, read only after they are checked against the signed length and EVERY signed
   * hash. The one way to read a target's content: never by a plain path, which a role name or a
   * nested delegation could have claimed. Undefined: the name does not resolve. Throws when the
   * stored bytes fail the check (a damaged store).
   */
  resolvedTarget(generationId: number, name: string): ResolvedTarget | undefined {
    const row = this.db.prepare('SELECT * FROM generation_targets WHERE generation_id = ? AND name = ?').get(generationId, name) as TargetRow | undefined;
    if (!row) return undefined;
    const info = toTargetInfo(row);
    const bytes = this.blob(row.sha256);
    const mismatch = bytes ? lengthOrHashMismatch(bytes, info) : 'its blob is missing';
    if (!bytes || mismatch) throw new Error(`store: target ${name} of generation ${generationId} does not match what ${info.role} signed: ${mismatch}`);
    return { info, bytes };
  }

  /**
   * Record the resolution of a generation committed before resolutions were recorded (derived
   * from its own verified metadata, see sync/backfill.ts). Does nothing if it has one already.
   */
  recordResolvedTargets(generationId: number, targets: NewResolvedTarget[]): boolean {
    return this.db.transaction(() => {
      const row = this.db.prepare('SELECT summary FROM generations WHERE id = ?').get(generationId) as { summary: string } | undefined;
      if (!row) return false;
      const summary = JSON.parse(row.summary) as GenerationSummary;
      if (summary.resolvedTargets !== undefined) return false;
      this.insertResolvedTargets(generationId, targets);
      summary.resolvedTargets = targets.length;
      this.db.prepare('UPDATE generations SET summary = ? WHERE id = ?').run(JSON.stringify(summary), generationId);
      return true;
    }).immediate();
  }

  private insertResolvedTargets(generationId: number, targets: NewResolvedTarget[]): void {
    const insertBlob = this.db.prepare('INSERT OR IGNORE INTO blobs (sha256, size, data) VALUES (?, ?, ?)');
    const insert = this.db.prepare('INSERT INTO generation_targets (generation_id, name, role, length, hashes, custom, sha256) VALUES (?, ?, ?, ?, ?, ?, ?)');
    for (const t of targets) {
      const sha = sha256Hex(t.bytes);
      insertBlob.run(sha, t.bytes.length, t.bytes);
      insert.run(generationId, t.name, t.role, t.length, JSON.stringify(t.hashes), t.custom === undefined ? null : JSON.stringify(t.custom), sha);
    }
  }

  blob(sha256: string): Buffer | undefined {
    return (this.db.prepare('SELECT data FROM blobs WHERE sha256 = ?').get(sha256) as { data: Buffer } | undefined)?.data;
  }

  roots(repository: string): RootRecord[] {
    const rows = this.db
      .prepare(
        `SELECT version, sha256, expires, first_seen_at FROM roots WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) ORDER BY version`,
      )
      .all(repository) as { version: number; sha256: string; expires: string; first_seen_at: string }[];
    return rows.map((r) => ({ version: r.version, sha256: r.sha256, expires: r.expires, firstSeenAt: r.first_seen_at }));
  }

  /**
   * The current generation, plus the versioned files (N.snapshot.json, targets/<hash>.x, …) of the
   * `generations - 1` generations before it: a client that read the previous timestamp.json a
   * moment before a switch still finds every file it names.
   */
  servedSet(repository: string, generations: number): ServedSet | undefined {
    const current = this.currentGeneration(repository);
    if (!current) return undefined;
    const files = this.generationFiles(current.id);
    const older = this.db
      .prepare(
        `SELECT id FROM generations WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND id < ? ORDER BY id DESC LIMIT ?`,
      )
      .all(repository, current.id, generations - 1) as { id: number }[];
    for (const { id } of older) {
      for (const [p, sha] of this.generationFiles(id)) {
        if (!files.has(p) && isVersionedPath(p)) files.set(p, sha);
      }
    }
    return { generationId: current.id, files };
  }

  startSyncRun(repository: string, source: string): number {
    const repositoryId = this.requireRepositoryId(repository);
    return Number(
      this.db
        .prepare(`INSERT INTO sync_runs (repository_id, source, started_at, outcome) VALUES (?, ?, ?, 'running')`)
        .run(repositoryId, source, nowIso()).lastInsertRowid,
    );
  }

  finishSyncRun(runId: number, outcome: 'unchanged' | 'failed', totals: RunTotals, failure?: RunFailure, problems?: SyncProblems): void {
    this.db
      .prepare(
        `UPDATE sync_runs SET finished_at = ?, outcome = ?, requests = ?, bytes = ?, error_code = ?, error_message = ?, error_role = ?, problems = ? WHERE id = ?`,
      )
      .run(nowIso(), outcome, totals.requests, totals.bytes, failure?.code ?? null, failure?.message ?? null, failure?.role ?? null, problemsJson(problems), runId);
  }

  /**
   * Write a verified generation and make it current, all in one transaction together with the
   * end of its sync run. Blobs are content addressed: a file already held is not stored again.
   */
  commitGeneration(repository: string, runId: number, gen: NewGeneration, totals: RunTotals): GenerationRecord {
    const repositoryId = this.requireRepositoryId(repository);
    const insertBlob = this.db.prepare('INSERT OR IGNORE INTO blobs (sha256, size, data) VALUES (?, ?, ?)');
    const insertFile = this.db.prepare('INSERT INTO generation_files (generation_id, path, sha256) VALUES (?, ?, ?)');
    const insertRoot = this.db.prepare(
      'INSERT OR IGNORE INTO roots (repository_id, version, sha256, expires, first_seen_at) VALUES (?, ?, ?, ?, ?)',
    );
    const store = (bytes: Buffer): string => {
      const sha = sha256Hex(bytes);
      insertBlob.run(sha, bytes.length, bytes);
      return sha;
    };

    return this.db.transaction(() => {
      const createdAt = nowIso();
      const summary: GenerationSummary = {
        ...gen.summary,
        files: gen.files.length,
        bytes: gen.files.reduce((n, f) => n + f.bytes.length, 0),
        resolvedTargets: gen.resolvedTargets.length,
      };
      const generationId = Number(
        this.db
          .prepare(
            `INSERT INTO generations (repository_id, created_at, sync_run_id, root_version, timestamp_version, snapshot_version, targets_version, summary)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(repositoryId, createdAt, runId, gen.versions.root, gen.versions.timestamp, gen.versions.snapshot, gen.versions.targets, JSON.stringify(summary))
          .lastInsertRowid,
      );
      for (const f of gen.files) insertFile.run(generationId, f.path, store(f.bytes));
      for (const r of gen.roots) insertRoot.run(repositoryId, r.version, store(r.bytes), r.expires, createdAt);
      this.insertResolvedTargets(generationId, gen.resolvedTargets);
      this.db.prepare('UPDATE repositories SET current_generation_id = ? WHERE id = ?').run(generationId, repositoryId);
      const problems = { failedRoles: gen.summary.failedRoles ?? [], refusedTargets: gen.summary.refusedTargets ?? [] };
      this.db
        .prepare(`UPDATE sync_runs SET finished_at = ?, outcome = 'updated', requests = ?, bytes = ?, generation_id = ?, problems = ? WHERE id = ?`)
        .run(createdAt, totals.requests, totals.bytes, generationId, problemsJson(problems), runId);
      return { id: generationId, repository, createdAt, syncRunId: runId, rootVersion: gen.versions.root, timestampVersion: gen.versions.timestamp, snapshotVersion: gen.versions.snapshot, targetsVersion: gen.versions.targets, summary };
    }).immediate();
  }

  lastSyncRun(repository: string, outcomes?: SyncOutcome[]): SyncRunRecord | undefined {
    const filter = outcomes ? `AND s.outcome IN (${outcomes.map(() => '?').join(', ')})` : '';
    const row = this.db
      .prepare(`SELECT s.*, r.name FROM sync_runs s JOIN repositories r ON r.id = s.repository_id WHERE r.name = ? ${filter} ORDER BY s.id DESC LIMIT 1`)
      .get(repository, ...(outcomes ?? [])) as RunRow | undefined;
    return row && toRun(row);
  }

  syncRuns(repository: string, limit = 50): SyncRunRecord[] {
    const rows = this.db
      .prepare(`SELECT s.*, r.name FROM sync_runs s JOIN repositories r ON r.id = s.repository_id WHERE r.name = ? ORDER BY s.id DESC LIMIT ?`)
      .all(repository, limit) as RunRow[];
    return rows.map(toRun);
  }

  /**
   * Take the repository's sync lock, shared by every process using this data dir. A lock whose
   * holder stopped heartbeating for `staleMs` belonged to a process that died: it is taken over,
   * and the runs that process left 'running' are ended as interrupted.
   */
  acquireSyncLock(repository: string, owner: string, staleMs: number): boolean {
    const repositoryId = this.requireRepositoryId(repository);
    return this.db.transaction(() => {
      const now = Date.now();
      const held = this.db.prepare('SELECT owner, heartbeat_at FROM sync_locks WHERE repository_id = ?').get(repositoryId) as
        | { owner: string; heartbeat_at: number }
        | undefined;
      if (held && held.owner !== owner && now - held.heartbeat_at < staleMs) return false;
      this.db
        .prepare('INSERT OR REPLACE INTO sync_locks (repository_id, owner, acquired_at, heartbeat_at) VALUES (?, ?, ?, ?)')
        .run(repositoryId, owner, new Date(now).toISOString(), now);
      this.db
        .prepare(
          `UPDATE sync_runs SET outcome = 'failed', finished_at = ?, error_code = 'INTERRUPTED', error_message = 'the process running this sync stopped before it finished'
           WHERE outcome = 'running' AND repository_id = ?`,
        )
        .run(new Date(now).toISOString(), repositoryId);
      return true;
    }).immediate();
  }

  heartbeatSyncLock(repository: string, owner: string): void {
    this.db
      .prepare('UPDATE sync_locks SET heartbeat_at = ? WHERE owner = ? AND repository_id = (SELECT id FROM repositories WHERE name = ?)')
      .run(Date.now(), owner, repository);
  }

  releaseSyncLock(repository: string, owner: string): void {
    this.db.prepare('DELETE FROM sync_locks WHERE owner = ? AND repository_id = (SELECT id FROM repositories WHERE name = ?)').run(owner, repository);
  }

  /** Generations committed after the last one the watch side examined, oldest first. */
  unwatchedGenerations(repository: string): { watchedId: number | null; previous: GenerationRecord | undefined; generations: GenerationRecord[] } {
    const repo = this.db.prepare('SELECT id, watched_generation_id AS watched FROM repositories WHERE name = ?').get(repository) as
      | { id: number; watched: number | null }
      | undefined;
    if (!repo) return { watchedId: null, previous: undefined, generations: [] };
    const rows = this.db
      .prepare(`SELECT g.*, r.name FROM generations g JOIN repositories r ON r.id = g.repository_id WHERE g.repository_id = ? AND g.id > ? ORDER BY g.id`)
      .all(repo.id, repo.watched ?? 0) as GenerationRow[];
    const prev = repo.watched
      ? (this.db.prepare(`SELECT g.*, r.name FROM generations g JOIN repositories r ON r.id = g.repository_id WHERE g.id = ?`).get(repo.watched) as GenerationRow | undefined)
      : undefined;
    return { watchedId: repo.watched, previous: prev && toGeneration(prev), generations: rows.map(toGeneration) };
  }

  /**
   * Record the events derived from generations up to `watchedGenerationId` and advance the
   * cursor, atomically: two processes examining the same generations record them once.
   */
  recordGenerationEvents(repository: string, fromGenerationId: number | null, watchedGenerationId: number, events: NewEvent[]): boolean {
    const repositoryId = this.requireRepositoryId(repository);
    return this.db.transaction(() => {
      const moved = this.db
        .prepare('UPDATE repositories SET watched_generation_id = ? WHERE id = ? AND watched_generation_id IS ?')
        .run(watchedGenerationId, repositoryId, fromGenerationId).changes;
      if (!moved) return false;
      this.insertEvents(repositoryId, events);
      return true;
    }).immediate();
  }

  private insertEvents(repositoryId: number, events: NewEvent[]): void {
    const insert = this.db.prepare('INSERT INTO events (repository_id, at, kind, severity, generation_id, data) VALUES (?, ?, ?, ?, ?, ?)');
    for (const e of events) insert.run(repositoryId, e.at ?? nowIso(), e.kind, e.severity, e.generationId, JSON.stringify(e.data));
  }

  events(repository: string, limit = 100, kind?: string): EventRecord[] {
    const rows = this.db
      .prepare(
        `SELECT e.*, r.name FROM events e JOIN repositories r ON r.id = e.repository_id WHERE r.name = ? ${kind ? 'AND e.kind = ?' : ''} ORDER BY e.id DESC LIMIT ?`,
      )
      .all(repository, ...(kind ? [kind] : []), limit) as {
      id: number;
      name: string;
      at: string;
      kind: string;
      severity: EventRecord['severity'];
      generation_id: number | null;
      data: string;
    }[];
    return rows.map((r) => ({ id: r.id, repository: r.name, at: r.at, kind: r.kind, severity: r.severity, generationId: r.generation_id, data: JSON.parse(r.data) as Record<string, unknown> }));
  }

  /**
   * Move an item to a new alert state if it is not in it already. Returns the previous state when
   * this call made the change (so exactly one caller notifies), undefined otherwise.
   */
  transitionAlertState(repository: string, item: string, state: string, event: (from: string | null) => NewEvent | undefined): { from: string | null } | undefined {
    const repositoryId = this.requireRepositoryId(repository);
    return this.db.transaction(() => {
      const current = this.db.prepare('SELECT state FROM alert_states WHERE repository_id = ? AND item = ?').get(repositoryId, item) as { state: string } | undefined;
      if (current?.state === state) return undefined;
      const from = current?.state ?? null;
      const e = event(from);
      this.db.prepare('INSERT OR REPLACE INTO alert_states (repository_id, item, state, since) VALUES (?, ?, ?, ?)').run(repositoryId, item, state, e?.at ?? nowIso());
      if (e) this.insertEvents(repositoryId, [e]);
      return { from };
    }).immediate();
  }

  /**
   * Drop generations beyond the newest `keep` (never the current one) and every blob that no
   * generation and no root refers to any more. Sync runs keep their history; their link to a
   * pruned generation is cleared.
   */
  prune(repository: string, keep: number): { generations: number; blobs: number } {
    const repositoryId = this.repositoryId(repository);
    if (repositoryId === undefined) return { generations: 0, blobs: 0 };
    return this.db.transaction(() => {
      const doomed = this.db
        .prepare(
          `SELECT id FROM generations WHERE repository_id = ? AND id NOT IN (SELECT id FROM generations WHERE repository_id = ? ORDER BY id DESC LIMIT ?)
           AND id IS NOT (SELECT current_generation_id FROM repositories WHERE id = ?)`,
        )
        .all(repositoryId, repositoryId, keep, repositoryId) as { id: number }[];
      for (const { id } of doomed) {
        this.db.prepare('UPDATE sync_runs SET generation_id = NULL WHERE generation_id = ?').run(id);
        this.db.prepare('DELETE FROM generation_files WHERE generation_id = ?').run(id);
        this.db.prepare('DELETE FROM generation_targets WHERE generation_id = ?').run(id);
        this.db.prepare('DELETE FROM generations WHERE id = ?').run(id);
      }
      const blobs = doomed.length
        ? this.db
            .prepare(
              `DELETE FROM blobs WHERE NOT EXISTS (SELECT 1 FROM generation_files f WHERE f.sha256 = blobs.sha256)
               AND NOT EXISTS (SELECT 1 FROM generation_targets t WHERE t.sha256 = blobs.sha256)
               AND NOT EXISTS (SELECT 1 FROM roots r WHERE r.sha256 = blobs.sha256)`,
            )
            .run().changes
        : 0;
      return { generations: doomed.length, blobs };
    }).immediate();
  }

  /** Every file of the current generation has its blob and its blob its hash: what a crash must never break. */
  checkIntegrity(): string[] {
    const problems: string[] = [];
    const quick = this.db.pragma('quick_check', { simple: true });
    if (quick !== 'ok') problems.push(`sqlite quick_check: ${String(quick)}`);
    const rows = this.db
      .prepare(
        `SELECT r.name, f.path, f.sha256, b.data FROM repositories r JOIN generation_files f ON f.generation_id = r.current_generation_id
         LEFT JOIN blobs b ON b.sha256 = f.sha256`,
      )
      .all() as { name: string; path: string; sha256: string; data: Buffer | null }[];
    for (const r of rows) {
      if (!r.data) problems.push(`${r.name}: ${r.path} has no blob`);
      else if (sha256Hex(r.data) !== r.sha256) problems.push(`${r.name}: ${r.path} blob does not match its hash`);
    }
    return problems;
  }
}

function toGeneration(row: GenerationRow): GenerationRecord {
  return {
    id: row.id,
    repository: row.name,
    createdAt: row.created_at,
    syncRunId: row.sync_run_id,
    rootVersion: row.root_version,
    timestampVersion: row.timestamp_version,
    snapshotVersion: row.snapshot_version,
    targetsVersion: row.targets_version,
    summary: JSON.parse(row.summary) as GenerationSummary,
  };
}

function toRun(row: RunRow): SyncRunRecord {
  return {
    id: row.id,
    repository: row.name,
    source: row.source,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    outcome: row.outcome,
    error: row.error_code ? { code: row.error_code, message: row.error_message ?? '', role: row.error_role } : null,
    requests: row.requests,
    bytes: row.bytes,
    generationId: row.generation_id,
    problems: row.problems ? (JSON.parse(row.problems) as SyncProblems) : null,
  };
}

function toTargetInfo(row: TargetRow): TargetInfo {
  const info: TargetInfo = { name: row.name, role: row.role, length: row.length, hashes: JSON.parse(row.hashes) as Record<string, string> };
  if (row.custom !== null) info.custom = JSON.parse(row.custom) as Record<string, unknown>;
  return info;
}

/** Problems as stored with a run: null when there are none, so a clean run reads as one. */
function problemsJson(problems: SyncProblems | undefined): string | null {
  if (!problems || (problems.failedRoles.length === 0 && problems.refusedTargets.length === 0)) return null;
  return JSON.stringify(problems);
}
