import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ConsumerReport, Finding } from '../lib/gate-report';
import { inSync, objectKey, outputReportSchema, type ClusterReport, type OutputReport } from '../lib/cluster-report';
import { lengthOrHashMismatch } from '../lib/hashes';
import { isVersionedPath, targetFilePaths } from '../lib/layout';
import { StoreError } from './errors';
import { redactUrl } from '../lib/log';
import { holderIsGone } from './lock-owner';
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
  /**
   * Target names that resolve (store.resolvedTarget), sorted. Read from the generation's
   * resolutions when first asked for (not stored in the summary: a repository may list many).
   */
  readonly targets: string[];
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

/** The summary as stored: everything but the target names. */
type StoredSummary = Omit<GenerationSummary, 'targets'>;

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

/** The latest report of one object a cluster's refresh-cluster job manages. */
export type ClusterOutputRecord = {
  cluster: string;
  /** `Kind [namespace/]name`. */
  object: string;
  report: OutputReport;
  firstReportedAt: string;
  /** When the mirror received the latest report. */
  reportedAt: string;
  /** When a report last said the cluster holds what the mirror served; null if none ever did. */
  inSyncAt: string | null;
};

/**
 * A bridge's latest decision about its source (bridge/bridge.ts writes it, the watch reads it):
 * `current` / `promoted` nothing to do or done; `pending` a candidate that passed the gate awaits
 * `bridge promote`; `held` the candidate failed the gate; `failed` promotion could not sign or
 * verify; `source-unavailable` the source has no generation that verified in full and is fresh.
 */
export type BridgeOutcome = 'current' | 'promoted' | 'pending' | 'held' | 'failed' | 'source-unavailable';
export type BridgeDecision = {
  outcome: BridgeOutcome;
  /** The source generation the candidate came from (null: none could be read). */
  sourceGeneration: number | null;
  /** The bridge's own generation served after the decision. */
  generation: number | null;
  /** Targets added, removed or changed by the candidate, against the promoted content. */
  changes: string[];
  findings: Finding[];
  consumers: ConsumerReport[];
  message: string;
  at: string;
};

/**
 * What a block holds. `head`: a generation's own timestamp.json. Below it, shared by every
 * generation with the same content: `roots`, `snapshot`, `metadata` (one role's files),
 * `targets` (the files and resolutions of the targets one role resolves, one bucket of names),
 * `carried` (a failed role's last verified files), `resolutions` (added to an older generation
 * by sync/backfill.ts) and `legacy` (a generation written before blocks, whole).
 */
export type BlockKind = 'head' | 'roots' | 'snapshot' | 'metadata' | 'targets' | 'carried' | 'resolutions' | 'legacy';

/** A block the store holds. */
export type BlockRecord = { id: number; key: string; kind: BlockKind; role: string | null; part: string | null; files: number; bytes: number; targets: number };

/** A target resolution with the address (sha256) of its checked bytes. */
export type TargetRecord = TargetInfo & { sha256: string };

/**
 * A file of a new block. `bytes` for a file not known to be stored (metadata); without them the
 * blob must be held already, leased to the run (putBlobs, leaseBlob): the commit fails otherwise.
 */
export type NewBlockFile = { path: string; sha256: string; size: number; bytes?: Buffer };

/**
 * A block a sync built; `key` names its content (sync/blocks.ts), so an identical block is stored
 * once. A `targets` block lists no files: its targets' files follow from their names and hashes
 * (blockFiles derives them).
 */
export type NewBlock = { key: string; kind: BlockKind; role?: string; part?: string; files: NewBlockFile[]; targets: TargetRecord[] };

export type NewGeneration = {
  /** The generation's own files: its timestamp.json. */
  head: NewBlock;
  /** Everything below the timestamp: the current file set again, or blocks (held ones reused as they are). */
  body: { fileSetId: number } | { blocks: (NewBlock | BlockRecord)[] };
  /** Root versions verified by the run; their files are in a block of the body. */
  roots: { version: number; sha256: string; expires: string }[];
  versions: { root: number; timestamp: number; snapshot: number; targets: number };
  summary: Omit<StoredSummary, 'files' | 'bytes' | 'resolvedTargets'>;
  /**
   * Blobs the run wrote or leased that the generation does not use (a file refused after it was
   * downloaded): the only ones its leases are kept for, so that the next prune looks at them and
   * not at every file of the run (the others are referenced once this commits).
   */
  unused: string[];
};

export type RunTotals = { requests: number; bytes: number };
export type RunFailure = { code: string; message: string; role?: string };

/** The files a server should answer with: the current generation plus versioned files it keeps servable. */
export type ServedSet = { generationId: number; files: Map<string, string> };

/**
 * The same as blocks, for a server that keeps what it already holds: the current generation's
 * head and body blocks, and the blocks of the generations before it that the current body does
 * not hold (their versioned files stay servable).
 */
export type ServedLayout = { generationId: number; headBlockId: number | null; fileSetId: number | null; body: number[]; older: number[] };

/** A generation's files: path → sha256, and their bytes (generationReader). */
export type GenerationFiles = { shas: ReadonlyMap<string, string>; read: (path: string) => Buffer };

/** A generation's head block and file set (null: written before blocks, or a legacy one). */
export type GenerationBody = { generationId: number; headBlockId: number | null; fileSetId: number | null; fileSetKey: string | null; headKey: string | null };

/** Where a generation's files are: its head block and the blocks of its file set. */
export type GenerationLayout = GenerationBody & { blocks: BlockRecord[] };

type GenerationRow = {
  id: number;
  name: string;
  created_at: string;
  sync_run_id: number | null;
  root_version: number;
  timestamp_version: number;
  snapshot_version: number;
  targets_version: number;
  summary: StoredJson<StoredSummary>;
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
  problems: StoredJson<SyncProblems> | null;
};

type TargetRow = { name: string; role: string; length: number; hashes: StoredJson<Hashes>; custom: StoredJson<Record<string, unknown>> | null; sha256: string };

const nowIso = (): string => new Date().toISOString();

type Hashes = Record<string, string>;

declare const storedAs: unique symbol;

/**
 * The text of a JSON column, tagged (in types only) with the type this module wrote into it: row
 * types declare each JSON column with it, and storedJson reads it back as that type.
 */
type StoredJson<T> = string & { readonly [storedAs]: T };

/**
 * A JSON column as the type this module wrote it with: the store is the only writer of its
 * database, so what it reads back is what it stored (migrations.ts keeps old rows in that shape).
 */
function storedJson<T>(text: StoredJson<T>): T {
  return JSON.parse(text) as T;
}

/** Tighten a file or directory to `mode`, where it exists and is ours to change (an emptyDir mount may not be). */
function ownerOnly(target: string, mode: number): void {
  try {
    fs.chmodSync(target, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'EPERM') throw err;
  }
}

/** A file set's name: the keys of its blocks, whatever their order. */
export function fileSetKey(blockKeys: Iterable<string>): string {
  return sha256Hex(Buffer.from([...blockKeys].sort().join('\n')));
}

/**
 * The only module that writes the database. Everything a generation needs is written in one
 * transaction, so a crash at any instant leaves either the old or the new generation current.
 * Blobs a sync downloads are written before, as they are verified, each leased to its run: no
 * prune (in this process or another) collects them until the run has ended.
 */
export class Store {
  private readonly statements = new Map<string, Database.Statement>();

  private constructor(
    private readonly db: Database.Database,
    readonly dataDir: string,
  ) {}

  static open(dataDir: string): Store {
    const file = path.join(dataDir, 'tuf-mirror.db');
    let db: Database.Database | undefined;
    try {
      fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      ownerOnly(dataDir, 0o700);
      // SQLite gives the -wal and -shm files the database file's mode: create it owner-only first.
      fs.closeSync(fs.openSync(file, 'a', 0o600));
      for (const f of [file, `${file}-wal`, `${file}-shm`]) ownerOnly(f, 0o600);
      db = new Database(file);
      db.pragma('journal_mode = WAL');
    } catch (err) {
      db?.close();
      throw unusableDataDir(dataDir, err);
    }
    // FULL: a committed generation survives power loss too, not only a killed process.
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 10000');
    // Checkpoint every ~40 MB of WAL rather than 4: a first sync writes its files in a few
    // checkpoints instead of dozens (each a synced copy into the database file).
    db.pragma('wal_autocheckpoint = 10000');
    migrate(db);
    return new Store(db, dataDir);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /**
   * Tests only: the raw database, for what no caller of the store may do (tamper with a blob,
   * count rows, write a row as an older version left it). Product code reads through the methods.
   */
  databaseForTests(): Database.Database {
    return this.db;
  }

  /** Run `read` in one read transaction: what it reads through the store is one consistent state. */
  readConsistently<T>(read: () => T): T {
    return this.db.transaction(read)();
  }

  /** Finished sync runs per repository and outcome (the counter the metrics export). */
  syncRunCounts(): { repository: string; outcome: SyncOutcome; runs: number }[] {
    return this.sql<{ repository: string; outcome: SyncOutcome; runs: number }>(
      `SELECT r.name AS repository, s.outcome, count(*) AS runs FROM sync_runs s JOIN repositories r ON r.id = s.repository_id WHERE s.outcome != 'running' GROUP BY r.name, s.outcome`,
    ).all();
  }

  /** The ids of a repository's generations, oldest first. */
  generationIds(repository: string): number[] {
    return this.sql<number>('SELECT g.id FROM generations g JOIN repositories r ON r.id = g.repository_id WHERE r.name = ? ORDER BY g.id').pluck().all(repository);
  }

  /**
   * A prepared statement, prepared once: several of these run once per file. `Row` is what one
   * row reads as (a plucked statement: its one column); the cache is shared by every row type.
   */
  private sql<Row = unknown>(text: string): Database.Statement<unknown[], Row> {
    let statement = this.statements.get(text);
    if (!statement) this.statements.set(text, (statement = this.db.prepare(text)));
    return statement as Database.Statement<unknown[], Row>;
  }

  /** The upstream is stored without credentials (they stay in the configuration). */
  ensureRepository(name: string, configuredUpstream: string): number {
    const upstream = redactUrl(configuredUpstream);
    const row = this.db.prepare<unknown[], { id: number; upstream: string }>('SELECT id, upstream FROM repositories WHERE name = ?').get(name);
    if (row) {
      if (row.upstream !== upstream) this.db.prepare('UPDATE repositories SET upstream = ? WHERE id = ?').run(upstream, row.id);
      return row.id;
    }
    return Number(this.db.prepare('INSERT INTO repositories (name, upstream, created_at) VALUES (?, ?, ?)').run(name, upstream, nowIso()).lastInsertRowid);
  }

  repositoryCreatedAt(name: string): string | undefined {
    return this.sql<string>('SELECT created_at FROM repositories WHERE name = ?').pluck().get(name);
  }

  private repositoryId(name: string): number | undefined {
    return this.sql<{ id: number }>('SELECT id FROM repositories WHERE name = ?').get(name)?.id;
  }

  private requireRepositoryId(name: string): number {
    const id = this.repositoryId(name);
    if (id === undefined) throw new Error(`unknown repository ${name}`);
    return id;
  }

  currentGeneration(repository: string): GenerationRecord | undefined {
    const row = this.sql<GenerationRow>(`SELECT g.*, r.name FROM repositories r JOIN generations g ON g.id = r.current_generation_id WHERE r.name = ?`).get(repository);
    return row && this.toGeneration(row);
  }

  /** Current generation id per repository: a cheap query for readers that poll for switches. */
  currentGenerationIds(): Map<string, number | null> {
    const rows = this.sql<{ name: string; id: number | null }>('SELECT name, current_generation_id AS id FROM repositories').all();
    return new Map(rows.map((r) => [r.name, r.id]));
  }

  // Blocks -------------------------------------------------------------------------------------

  /** A generation's head block and file set, by id and key: one row, whatever it holds. */
  generationBody(generationId: number): GenerationBody | undefined {
    return this.sql<GenerationBody>(
      `SELECT g.id AS generationId, g.head_block_id AS headBlockId, g.file_set_id AS fileSetId, s.key AS fileSetKey, h.key AS headKey
       FROM generations g LEFT JOIN file_sets s ON s.id = g.file_set_id LEFT JOIN blocks h ON h.id = g.head_block_id WHERE g.id = ?`,
    ).get(generationId);
  }

  /** Where a generation's files are: its blocks (nothing is read from the blocks themselves). */
  generationLayout(generationId: number): GenerationLayout | undefined {
    const body = this.generationBody(generationId);
    if (!body) return undefined;
    return { ...body, blocks: body.fileSetId === null ? [] : this.fileSetBlocks(body.fileSetId) };
  }

  private fileSetBlocks(fileSetId: number): BlockRecord[] {
    return this.sql<BlockRecord>(
      `SELECT b.id, b.key, b.kind, b.role, b.part, b.files, b.bytes, b.targets FROM file_set_blocks s JOIN blocks b ON b.id = s.block_id WHERE s.file_set_id = ? ORDER BY b.id`,
    ).all(fileSetId);
  }

  /** A block of the repository with this content, if one is held. */
  blockByKey(repository: string, key: string): BlockRecord | undefined {
    return this.sql<BlockRecord>(
      `SELECT b.id, b.key, b.kind, b.role, b.part, b.files, b.bytes, b.targets FROM blocks b JOIN repositories r ON r.id = b.repository_id WHERE r.name = ? AND b.key = ?`,
    ).get(repository, key);
  }

  /** A block's files: path → sha256 (a targets block's are those of its targets, derived from their names and hashes). */
  blockFiles(blockId: number): [string, string][] {
    const files = this.sql<[string, string]>('SELECT path, sha256 FROM block_files WHERE block_id = ?').raw().all(blockId);
    const targets = this.sql<[string, StoredJson<Hashes>, string]>(`SELECT t.name, t.hashes, t.sha256 FROM blocks b JOIN block_targets t ON t.block_id = b.id WHERE b.id = ? AND b.kind = 'targets'`)
      .raw()
      .all(blockId);
    for (const [name, hashes, sha] of targets) for (const p of targetFilePaths(name, storedJson(hashes))) files.push([p, sha]);
    return files;
  }

  /** A block's resolutions, by name. */
  blockTargets(blockId: number): TargetRecord[] {
    return this.sql<TargetRow>('SELECT * FROM block_targets WHERE block_id = ? ORDER BY name').all(blockId).map(toTargetRecord);
  }

  /** The sha256 of one file of a generation (its head first), without reading the others. */
  generationFile(generationId: number, path: string): string | undefined {
    const body = this.generationBody(generationId);
    if (!body) return undefined;
    if (body.headBlockId !== null) {
      const head = this.sql<string>('SELECT sha256 FROM block_files WHERE block_id = ? AND path = ?').pluck().get(body.headBlockId, path);
      if (head !== undefined) return head;
    }
    return body.fileSetId === null ? undefined : this.fileSetPath(body.fileSetId, path)[0]?.sha256;
  }

  /** The blocks of a file set that hold `path`, with what they hold there (collision checks of a sync). */
  fileSetPath(fileSetId: number, path: string): { blockId: number; role: string | null; sha256: string }[] {
    const rows = this.sql<{ blockId: number; role: string | null; sha256: string }>(
      `SELECT f.block_id AS blockId, b.role, f.sha256 FROM block_files f JOIN file_set_blocks s ON s.block_id = f.block_id AND s.file_set_id = ? JOIN blocks b ON b.id = f.block_id WHERE f.path = ?`,
    ).all(fileSetId, path);
    // A target's files: `targets/<name>` and `targets/[dir/]<hash>.<base>` for each signed hash.
    if (!path.startsWith('targets/')) return rows;
    const rest = path.slice('targets/'.length);
    const slash = rest.lastIndexOf('/');
    const base = rest.slice(slash + 1);
    const dot = base.indexOf('.');
    const hashed = dot > 0 && /^[0-9a-f]+$/.test(base.slice(0, dot)) ? { name: rest.slice(0, slash + 1) + base.slice(dot + 1), hash: base.slice(0, dot) } : undefined;
    const byName = this.sql<{ blockId: number; role: string; hashes: StoredJson<Hashes>; sha256: string }>(
      `SELECT t.block_id AS blockId, t.role, t.hashes, t.sha256 FROM block_targets t JOIN file_set_blocks s ON s.block_id = t.block_id AND s.file_set_id = ? JOIN blocks b ON b.id = t.block_id AND b.kind = 'targets' WHERE t.name = ?`,
    );
    for (const t of byName.all(fileSetId, rest)) rows.push({ blockId: t.blockId, role: t.role, sha256: t.sha256 });
    if (hashed) {
      for (const t of byName.all(fileSetId, hashed.name)) {
        if (Object.values(storedJson(t.hashes)).includes(hashed.hash)) rows.push({ blockId: t.blockId, role: t.role, sha256: t.sha256 });
      }
    }
    return rows;
  }

  /** Every file of a generation: path → sha256. */
  generationFiles(generationId: number): Map<string, string> {
    const layout = this.generationLayout(generationId);
    const files = new Map<string, string>();
    if (!layout) return files;
    for (const b of layout.blocks) for (const [p, sha] of this.blockFiles(b.id)) files.set(p, sha);
    if (layout.headBlockId !== null) for (const [p, sha] of this.blockFiles(layout.headBlockId)) files.set(p, sha);
    return files;
  }

  /**
   * A generation's files for a caller that reads many of them: the file list is read once. A file
   * the generation lacks throws: a committed generation holds every file its own metadata names,
   * so a miss is a damaged store, never the caller's request.
   */
  generationReader(generation: Pick<GenerationRecord, 'id' | 'repository'>): GenerationFiles {
    const shas = this.generationFiles(generation.id);
    const read = (p: string): Buffer => {
      const sha = shas.get(p);
      const bytes = sha === undefined ? undefined : this.blob(sha);
      if (!bytes) throw new Error(`generation ${generation.id} of ${generation.repository} lacks ${p}`);
      return bytes;
    };
    return { shas, read };
  }

  /** Every file of a generation with its bytes: path → bytes (a missing blob, a damaged store, throws). */
  generationContents(generation: Pick<GenerationRecord, 'id' | 'repository'>): Map<string, Buffer> {
    const { shas, read } = this.generationReader(generation);
    return new Map([...shas.keys()].map((p) => [p, read(p)]));
  }

  /** Every target name of a generation that resolves, with its signed info, sorted by name. */
  resolvedTargets(generationId: number): TargetInfo[] {
    const rows = this.sql<TargetRow>(
      `SELECT t.* FROM generations g JOIN file_set_blocks s ON s.file_set_id = g.file_set_id JOIN block_targets t ON t.block_id = s.block_id WHERE g.id = ? ORDER BY t.name`,
    ).all(generationId);
    return rows.map(toTargetInfo);
  }

  /** The names of resolvedTargets, sorted. */
  targetNames(generationId: number): string[] {
    return this.sql<string>(`SELECT t.name FROM generations g JOIN file_set_blocks s ON s.file_set_id = g.file_set_id JOIN block_targets t ON t.block_id = s.block_id WHERE g.id = ? ORDER BY t.name`)
      .pluck()
      .all(generationId);
  }

  /**
   * What `name` resolves to in a generation (by TUF's search, when the generation was committed)
   * and its bytes, read only after they are checked against the signed length and EVERY signed
   * hash. The one way to read a target's content: never by a plain path, which a role name or a
   * nested delegation could have claimed. Undefined: the name does not resolve. Throws when the
   * stored bytes fail the check (a damaged store).
   */
  resolvedTarget(generationId: number, name: string): ResolvedTarget | undefined {
    const row = this.sql<TargetRow>(
      `SELECT t.* FROM generations g JOIN file_set_blocks s ON s.file_set_id = g.file_set_id JOIN block_targets t ON t.block_id = s.block_id AND t.name = ? WHERE g.id = ?`,
    ).get(name, generationId);
    if (!row) return undefined;
    const info = toTargetInfo(row);
    const bytes = this.blob(row.sha256);
    const damaged = (why: string): Error => new Error(`store: target ${name} of generation ${generationId} does not match what ${info.role} signed: ${why}`);
    if (!bytes) throw damaged('its blob is missing');
    const mismatch = lengthOrHashMismatch(bytes, info);
    if (mismatch !== undefined) throw damaged(mismatch);
    return { info, bytes };
  }

  /**
   * Record the resolution of a generation committed before resolutions were recorded (derived
   * from its own verified metadata, see sync/backfill.ts): a block added to its file set, so
   * every generation sharing that set has it. Does nothing if the generation has one already.
   */
  recordResolvedTargets(generationId: number, targets: TargetRecord[]): boolean {
    return this.db
      .transaction(() => {
        const row = this.db
          .prepare<unknown[], { repository_id: number; file_set_id: number | null; summary: StoredJson<StoredSummary> }>('SELECT repository_id, file_set_id, summary FROM generations WHERE id = ?')
          .get(generationId);
        if (!row) return false;
        if (row.file_set_id === null) return false;
        const summary = storedJson(row.summary);
        if (summary.resolvedTargets !== undefined) return false;
        const key = `resolutions:${generationId}:${fileSetKey(targets.map((t) => `${t.name}\n${t.sha256}`))}`;
        // The blobs are held (the generation's files); a missing one fails the foreign key, and the whole.
        const block = this.insertBlock(row.repository_id, { key, kind: 'resolutions', files: [], targets });
        this.db.prepare('INSERT OR IGNORE INTO file_set_blocks (file_set_id, block_id) VALUES (?, ?)').run(row.file_set_id, block.id);
        for (const g of this.db.prepare<unknown[], { id: number; summary: StoredJson<StoredSummary> }>('SELECT id, summary FROM generations WHERE file_set_id = ?').all(row.file_set_id)) {
          const s = storedJson(g.summary);
          if (s.resolvedTargets === undefined) this.db.prepare('UPDATE generations SET summary = ? WHERE id = ?').run(JSON.stringify({ ...s, resolvedTargets: targets.length }), g.id);
        }
        return true;
      })
      .immediate();
  }

  blob(sha256: string): Buffer | undefined {
    return this.sql<Buffer>('SELECT data FROM blobs WHERE sha256 = ?').pluck().get(sha256);
  }

  /**
   * Store blobs a sync verified, leased to its run in the same transaction: from then on no
   * prune collects them while the run is running. One transaction for many files (each is a
   * synced write); the new ones are leased by their rowid range (they are consecutive rows: one
   * writer at a time), the few held already one by one.
   */
  putBlobs(runId: number, blobs: { sha256: string; bytes: Buffer }[]): void {
    if (!blobs.length) return;
    const insertBlob = this.sql('INSERT OR IGNORE INTO blobs (sha256, size, data) VALUES (?, ?, ?)');
    const lease = this.sql('INSERT OR IGNORE INTO sync_run_blobs (run_id, sha256) VALUES (?, ?)');
    const lastRowid = this.sql<number>('SELECT coalesce(max(rowid), 0) FROM blobs').pluck();
    this.db.transaction(() => {
      const before = lastRowid.get() ?? 0;
      for (const b of blobs) if (insertBlob.run(b.sha256, b.bytes.length, b.bytes).changes === 0) lease.run(runId, b.sha256);
      const after = lastRowid.get() ?? 0;
      if (after > before) this.sql('INSERT INTO sync_run_writes (run_id, first_rowid, last_rowid) VALUES (?, ?, ?)').run(runId, before + 1, after);
    })();
  }

  /** Which of these blobs the store holds (one query per few hundred). */
  heldBlobs(shas: Iterable<string>): Set<string> {
    const list = [...new Set(shas)];
    const held = new Set<string>();
    for (let i = 0; i < list.length; i += 500) {
      const chunk = list.slice(i, i + 500);
      const rows = this.db
        .prepare<unknown[], string>(`SELECT sha256 FROM blobs WHERE sha256 IN (${chunk.map(() => '?').join(',')})`)
        .pluck()
        .all(...chunk);
      rows.forEach((sha) => held.add(sha));
    }
    return held;
  }

  /**
   * Lease a blob the store holds already (possibly only for another repository) to a run that
   * means to reference it. False: not held (or just collected), so the run must fetch it.
   */
  leaseBlob(runId: number, sha256: string): boolean {
    return this.sql('INSERT OR IGNORE INTO sync_run_blobs (run_id, sha256) SELECT ?, sha256 FROM blobs WHERE sha256 = ?').run(runId, sha256).changes > 0 || this.leased(runId, sha256);
  }

  private leased(runId: number, sha256: string): boolean {
    return this.sql('SELECT 1 FROM sync_run_blobs l JOIN blobs b ON b.sha256 = l.sha256 WHERE l.run_id = ? AND l.sha256 = ?').get(runId, sha256) !== undefined;
  }

  roots(repository: string): RootRecord[] {
    const rows = this.sql<{ version: number; sha256: string; expires: string; first_seen_at: string }>(
      `SELECT version, sha256, expires, first_seen_at FROM roots WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) ORDER BY version`,
    ).all(repository);
    return rows.map((r) => ({ version: r.version, sha256: r.sha256, expires: r.expires, firstSeenAt: r.first_seen_at }));
  }

  /**
   * Which blocks a server answers from: the current generation's, and those of the
   * `generations - 1` generations before it that the current body does not hold (a client that
   * read the previous timestamp.json a moment before a switch still finds every versioned file
   * it names). Reads block ids only: what the server already holds, it keeps.
   */
  servedLayout(repository: string, generations: number): ServedLayout | undefined {
    const current = this.sql<{ id: number; head: number | null; fileSet: number | null }>(
      `SELECT g.id, g.head_block_id AS head, g.file_set_id AS fileSet FROM repositories r JOIN generations g ON g.id = r.current_generation_id WHERE r.name = ?`,
    ).get(repository);
    if (!current) return undefined;
    const body = current.fileSet === null ? [] : this.sql<number>('SELECT block_id FROM file_set_blocks WHERE file_set_id = ? ORDER BY block_id').pluck().all(current.fileSet);
    const older = this.sql<number>(
      `SELECT DISTINCT s.block_id FROM (SELECT file_set_id FROM generations WHERE repository_id = (SELECT id FROM repositories WHERE name = @repository) AND id < @current ORDER BY id DESC LIMIT @older) o
       JOIN file_set_blocks s ON s.file_set_id = o.file_set_id
       WHERE o.file_set_id IS NOT @fileSet AND s.block_id NOT IN (SELECT block_id FROM file_set_blocks WHERE file_set_id IS @fileSet)
       ORDER BY s.block_id`,
    )
      .pluck()
      .all({ repository, current: current.id, older: generations - 1, fileSet: current.fileSet });
    return { generationId: current.id, headBlockId: current.head, fileSetId: current.fileSet, body, older };
  }

  /** servedLayout as one map of every file served: path → sha256. */
  servedSet(repository: string, generations: number): ServedSet | undefined {
    const layout = this.servedLayout(repository, generations);
    if (!layout) return undefined;
    const files = new Map<string, string>();
    for (const id of layout.body) for (const [p, sha] of this.blockFiles(id)) files.set(p, sha);
    if (layout.headBlockId !== null) for (const [p, sha] of this.blockFiles(layout.headBlockId)) files.set(p, sha);
    for (const id of layout.older) {
      for (const [p, sha] of this.blockFiles(id)) if (!files.has(p) && isVersionedPath(p)) files.set(p, sha);
    }
    return { generationId: layout.generationId, files };
  }

  startSyncRun(repository: string, source: string): number {
    const repositoryId = this.requireRepositoryId(repository);
    return Number(this.db.prepare(`INSERT INTO sync_runs (repository_id, source, started_at, outcome) VALUES (?, ?, ?, 'running')`).run(repositoryId, source, nowIso()).lastInsertRowid);
  }

  finishSyncRun(runId: number, outcome: 'unchanged' | 'failed', totals: RunTotals, failure?: RunFailure, problems?: SyncProblems): void {
    this.db
      .prepare(`UPDATE sync_runs SET finished_at = ?, outcome = ?, requests = ?, bytes = ?, error_code = ?, error_message = ?, error_role = ?, problems = ? WHERE id = ?`)
      .run(nowIso(), outcome, totals.requests, totals.bytes, failure?.code ?? null, failure?.message ?? null, failure?.role ?? null, problemsJson(problems), runId);
  }

  /**
   * Write a verified generation and make it current, all in one transaction together with the
   * end of its sync run. Blocks and file sets are content addressed: one already held is reused,
   * not written again; so are blobs. What the generation writes grows with what changed.
   */
  commitGeneration(repository: string, runId: number, gen: NewGeneration, totals: RunTotals): GenerationRecord {
    const repositoryId = this.requireRepositoryId(repository);
    return this.db
      .transaction(() => {
        const createdAt = nowIso();
        const head = this.insertBlock(repositoryId, gen.head);
        const fileSetId =
          'fileSetId' in gen.body
            ? gen.body.fileSetId
            : this.insertFileSet(
                repositoryId,
                gen.body.blocks.map((b) => ('id' in b ? b : this.insertBlock(repositoryId, b))),
              );
        const counts = this.sql<{ files: number; bytes: number; targets: number }>(
          `SELECT count(*) AS blocks, coalesce(sum(b.files), 0) AS files, coalesce(sum(b.bytes), 0) AS bytes, coalesce(sum(b.targets), 0) AS targets
         FROM file_set_blocks s JOIN blocks b ON b.id = s.block_id WHERE s.file_set_id = ?`,
        ).get(fileSetId) ?? { files: 0, bytes: 0, targets: 0 };
        const insertRoot = this.sql('INSERT OR IGNORE INTO roots (repository_id, version, sha256, expires, first_seen_at) VALUES (?, ?, ?, ?, ?)');
        for (const r of gen.roots) insertRoot.run(repositoryId, r.version, r.sha256, r.expires, createdAt);
        const summary: StoredSummary = { ...gen.summary, files: counts.files + head.files, bytes: counts.bytes + head.bytes, resolvedTargets: counts.targets };
        const generationId = Number(
          this.sql(
            `INSERT INTO generations (repository_id, created_at, sync_run_id, root_version, timestamp_version, snapshot_version, targets_version, summary, file_set_id, head_block_id)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          ).run(repositoryId, createdAt, runId, gen.versions.root, gen.versions.timestamp, gen.versions.snapshot, gen.versions.targets, JSON.stringify(summary), fileSetId, head.id).lastInsertRowid,
        );
        this.sql('UPDATE repositories SET current_generation_id = ? WHERE id = ?').run(generationId, repositoryId);
        this.sql('DELETE FROM sync_run_writes WHERE run_id = ?').run(runId);
        this.sql('DELETE FROM sync_run_blobs WHERE run_id = ?').run(runId);
        const lease = this.sql('INSERT OR IGNORE INTO sync_run_blobs (run_id, sha256) VALUES (?, ?)');
        for (const sha of gen.unused) lease.run(runId, sha);
        const problems = { failedRoles: gen.summary.failedRoles ?? [], refusedTargets: gen.summary.refusedTargets ?? [] };
        this.sql(`UPDATE sync_runs SET finished_at = ?, outcome = 'updated', requests = ?, bytes = ?, generation_id = ?, problems = ? WHERE id = ?`).run(
          createdAt,
          totals.requests,
          totals.bytes,
          generationId,
          problemsJson(problems),
          runId,
        );
        return this.record(
          {
            id: generationId,
            repository,
            createdAt,
            syncRunId: runId,
            rootVersion: gen.versions.root,
            timestampVersion: gen.versions.timestamp,
            snapshotVersion: gen.versions.snapshot,
            targetsVersion: gen.versions.targets,
          },
          summary,
        );
      })
      .immediate();
  }

  /** The block of `repositoryId` with `block.key`: the one held, or this one, written now. */
  private insertBlock(repositoryId: number, block: NewBlock): BlockRecord {
    const held = this.sql<BlockRecord>('SELECT id, key, kind, role, part, files, bytes, targets FROM blocks WHERE repository_id = ? AND key = ?').get(repositoryId, block.key);
    if (held) return held;
    // A targets block serves each target at one path per distinct signed hash and at its plain one.
    const served = block.kind === 'targets' ? block.targets.map((t) => ({ files: new Set(Object.values(t.hashes)).size + 1, size: t.length })) : block.files.map((f) => ({ files: 1, size: f.size }));
    const files = served.reduce((n, f) => n + f.files, 0);
    const bytes = served.reduce((n, f) => n + f.files * f.size, 0);
    const id = Number(
      this.sql('INSERT INTO blocks (repository_id, key, kind, role, part, files, bytes, targets) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
        repositoryId,
        block.key,
        block.kind,
        block.role ?? null,
        block.part ?? null,
        files,
        bytes,
        block.targets.length,
      ).lastInsertRowid,
    );
    const insertBlob = this.sql('INSERT OR IGNORE INTO blobs (sha256, size, data) VALUES (?, ?, ?)');
    const insertFile = this.sql('INSERT INTO block_files (block_id, path, sha256) VALUES (?, ?, ?)');
    const insertTarget = this.sql('INSERT INTO block_targets (block_id, name, role, length, hashes, custom, sha256) VALUES (?, ?, ?, ?, ?, ?, ?)');
    for (const f of block.files) {
      if (f.bytes) insertBlob.run(f.sha256, f.bytes.length, f.bytes);
      // A blob that is not held fails the foreign key, and with it the commit: never a dangling file.
      insertFile.run(id, f.path, f.sha256);
    }
    for (const t of block.targets) insertTarget.run(id, t.name, t.role, t.length, JSON.stringify(t.hashes), t.custom === undefined ? null : JSON.stringify(t.custom), t.sha256);
    return { id, key: block.key, kind: block.kind, role: block.role ?? null, part: block.part ?? null, files, bytes, targets: block.targets.length };
  }

  private insertFileSet(repositoryId: number, blocks: BlockRecord[]): number {
    const key = fileSetKey(blocks.map((b) => b.key));
    const held = this.sql<{ id: number }>('SELECT id FROM file_sets WHERE repository_id = ? AND key = ?').get(repositoryId, key);
    if (held) return held.id;
    const id = Number(this.sql('INSERT INTO file_sets (repository_id, key) VALUES (?, ?)').run(repositoryId, key).lastInsertRowid);
    const insert = this.sql('INSERT OR IGNORE INTO file_set_blocks (file_set_id, block_id) VALUES (?, ?)');
    for (const b of blocks) insert.run(id, b.id);
    return id;
  }

  lastSyncRun(repository: string, outcomes?: SyncOutcome[]): SyncRunRecord | undefined {
    const filter = outcomes ? `AND s.outcome IN (${outcomes.map(() => '?').join(', ')})` : '';
    const row = this.db
      .prepare<unknown[], RunRow>(`SELECT s.*, r.name FROM sync_runs s JOIN repositories r ON r.id = s.repository_id WHERE r.name = ? ${filter} ORDER BY s.id DESC LIMIT 1`)
      .get(repository, ...(outcomes ?? []));
    return row && toRun(row);
  }

  syncRuns(repository: string, limit = 50): SyncRunRecord[] {
    const rows = this.db
      .prepare<unknown[], RunRow>(`SELECT s.*, r.name FROM sync_runs s JOIN repositories r ON r.id = s.repository_id WHERE r.name = ? ORDER BY s.id DESC LIMIT ?`)
      .all(repository, limit);
    return rows.map(toRun);
  }

  /**
   * Take the repository's sync lock, shared by every process using this data dir. A lock is
   * taken over, and the runs its holder left 'running' are ended as interrupted, when its holder
   * is a dead process of this machine (store/lock-owner.ts: at once, so a sync restarted after
   * kill -9 runs) or stopped heartbeating for `staleMs` (a holder on another host, or one this
   * process cannot see: taken to have died).
   */
  acquireSyncLock(repository: string, owner: string, staleMs: number): boolean {
    const repositoryId = this.requireRepositoryId(repository);
    return this.db
      .transaction(() => {
        const now = Date.now();
        const held = this.db.prepare<unknown[], { owner: string; heartbeat_at: number }>('SELECT owner, heartbeat_at FROM sync_locks WHERE repository_id = ?').get(repositoryId);
        if (held && held.owner !== owner && now - held.heartbeat_at < staleMs && !holderIsGone(held.owner)) return false;
        this.db.prepare('INSERT OR REPLACE INTO sync_locks (repository_id, owner, acquired_at, heartbeat_at) VALUES (?, ?, ?, ?)').run(repositoryId, owner, new Date(now).toISOString(), now);
        this.db
          .prepare(
            `UPDATE sync_runs SET outcome = 'failed', finished_at = ?, error_code = 'INTERRUPTED', error_message = 'the process running this sync stopped before it finished'
           WHERE outcome = 'running' AND repository_id = ?`,
          )
          .run(new Date(now).toISOString(), repositoryId);
        return true;
      })
      .immediate();
  }

  heartbeatSyncLock(repository: string, owner: string): void {
    this.db.prepare('UPDATE sync_locks SET heartbeat_at = ? WHERE owner = ? AND repository_id = (SELECT id FROM repositories WHERE name = ?)').run(Date.now(), owner, repository);
  }

  releaseSyncLock(repository: string, owner: string): void {
    this.db.prepare('DELETE FROM sync_locks WHERE owner = ? AND repository_id = (SELECT id FROM repositories WHERE name = ?)').run(owner, repository);
  }

  /** Generations committed after the last one the watch side examined, oldest first. */
  unwatchedGenerations(repository: string): { watchedId: number | null; previous: GenerationRecord | undefined; generations: GenerationRecord[] } {
    const repo = this.db.prepare<unknown[], { id: number; watched: number | null }>('SELECT id, watched_generation_id AS watched FROM repositories WHERE name = ?').get(repository);
    if (!repo) return { watchedId: null, previous: undefined, generations: [] };
    const rows = this.db
      .prepare<unknown[], GenerationRow>(`SELECT g.*, r.name FROM generations g JOIN repositories r ON r.id = g.repository_id WHERE g.repository_id = ? AND g.id > ? ORDER BY g.id`)
      .all(repo.id, repo.watched ?? 0);
    const prev = repo.watched
      ? this.db.prepare<unknown[], GenerationRow>(`SELECT g.*, r.name FROM generations g JOIN repositories r ON r.id = g.repository_id WHERE g.id = ?`).get(repo.watched)
      : undefined;
    return { watchedId: repo.watched, previous: prev && this.toGeneration(prev), generations: rows.map((r) => this.toGeneration(r)) };
  }

  /**
   * Record the events derived from generations up to `watchedGenerationId` and advance the
   * cursor, atomically: two processes examining the same generations record them once.
   */
  recordGenerationEvents(repository: string, fromGenerationId: number | null, watchedGenerationId: number, events: NewEvent[]): boolean {
    const repositoryId = this.requireRepositoryId(repository);
    return this.db
      .transaction(() => {
        const moved = this.db.prepare('UPDATE repositories SET watched_generation_id = ? WHERE id = ? AND watched_generation_id IS ?').run(watchedGenerationId, repositoryId, fromGenerationId).changes;
        if (!moved) return false;
        this.insertEvents(repositoryId, events);
        return true;
      })
      .immediate();
  }

  private insertEvents(repositoryId: number, events: NewEvent[]): void {
    const insert = this.db.prepare('INSERT INTO events (repository_id, at, kind, severity, generation_id, data) VALUES (?, ?, ?, ?, ?, ?)');
    for (const e of events) insert.run(repositoryId, e.at ?? nowIso(), e.kind, e.severity, e.generationId, JSON.stringify(e.data));
  }

  events(repository: string, limit = 100, kind?: string): EventRecord[] {
    const rows = this.db
      .prepare<unknown[], { id: number; name: string; at: string; kind: string; severity: EventRecord['severity']; generation_id: number | null; data: StoredJson<Record<string, unknown>> }>(
        `SELECT e.*, r.name FROM events e JOIN repositories r ON r.id = e.repository_id WHERE r.name = ? ${kind ? 'AND e.kind = ?' : ''} ORDER BY e.id DESC LIMIT ?`,
      )
      .all(repository, ...(kind ? [kind] : []), limit);
    return rows.map((r) => ({ id: r.id, repository: r.name, at: r.at, kind: r.kind, severity: r.severity, generationId: r.generation_id, data: storedJson(r.data) }));
  }

  /** A bridge's decision, recorded as a `bridge` event (its history is the bridge's history). */
  recordBridgeDecision(repository: string, decision: BridgeDecision, severity: NewEvent['severity']): void {
    const repositoryId = this.requireRepositoryId(repository);
    this.db.transaction(() => this.insertEvents(repositoryId, [{ kind: 'bridge', severity, generationId: decision.generation, at: decision.at, data: decision }])).immediate();
  }

  latestBridgeDecision(repository: string): BridgeDecision | undefined {
    const data = this.db
      .prepare<unknown[], StoredJson<BridgeDecision>>(`SELECT e.data FROM events e JOIN repositories r ON r.id = e.repository_id WHERE r.name = ? AND e.kind = 'bridge' ORDER BY e.id DESC LIMIT 1`)
      .pluck()
      .get(repository);
    return data === undefined ? undefined : storedJson(data);
  }

  /**
   * Keep a refresh-cluster report: per object, the latest report, when it came, and when the
   * cluster last held what the mirror served (kept across reports that say it lags).
   */
  recordClusterReport(repository: string, report: ClusterReport, receivedAt: string = nowIso()): void {
    const repositoryId = this.requireRepositoryId(repository);
    const select = this.db.prepare<unknown[], { in_sync_at: string | null }>('SELECT in_sync_at FROM cluster_outputs WHERE repository_id = ? AND cluster = ? AND object = ?');
    const upsert = this.db.prepare(
      `INSERT INTO cluster_outputs (repository_id, cluster, object, report, first_reported_at, reported_at, in_sync_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (repository_id, cluster, object) DO UPDATE SET report = excluded.report, reported_at = excluded.reported_at, in_sync_at = excluded.in_sync_at`,
    );
    this.db
      .transaction(() => {
        for (const output of report.outputs) {
          const object = objectKey(output.object);
          const previous = select.get(repositoryId, report.cluster, object);
          const syncedAt = inSync(output) ? receivedAt : (previous?.in_sync_at ?? null);
          upsert.run(repositoryId, report.cluster, object, JSON.stringify(output), receivedAt, receivedAt, syncedAt);
        }
      })
      .immediate();
  }

  /** Every object some cluster reported about, with its latest report. */
  clusterOutputs(repository: string): ClusterOutputRecord[] {
    const rows = this.db
      .prepare<unknown[], { cluster: string; object: string; report: string; first_reported_at: string; reported_at: string; in_sync_at: string | null }>(
        `SELECT c.cluster, c.object, c.report, c.first_reported_at, c.reported_at, c.in_sync_at FROM cluster_outputs c
         JOIN repositories r ON r.id = c.repository_id WHERE r.name = ? ORDER BY c.cluster, c.object`,
      )
      .all(repository);
    return rows.map((r) => ({
      cluster: r.cluster,
      object: r.object,
      report: outputReportSchema.parse(JSON.parse(r.report)),
      firstReportedAt: r.first_reported_at,
      reportedAt: r.reported_at,
      inSyncAt: r.in_sync_at,
    }));
  }

  /**
   * Move items to new alert states, each if it is not in it already, in one transaction. Returns,
   * per item, the previous state when this call made the change (so exactly one caller
   * notifies), undefined otherwise.
   */
  transitionAlertStates(repository: string, transitions: { item: string; state: string; event: (from: string | null) => NewEvent | undefined }[]): ({ from: string | null } | undefined)[] {
    const repositoryId = this.requireRepositoryId(repository);
    const current = this.sql<string>('SELECT state FROM alert_states WHERE repository_id = ? AND item = ?').pluck();
    const set = this.sql('INSERT OR REPLACE INTO alert_states (repository_id, item, state, since) VALUES (?, ?, ?, ?)');
    return this.db
      .transaction(() =>
        transitions.map(({ item, state, event }) => {
          const held = current.get(repositoryId, item);
          if (held === state) return undefined;
          const from = held ?? null;
          const e = event(from);
          set.run(repositoryId, item, state, e?.at ?? nowIso());
          if (e) this.insertEvents(repositoryId, [e]);
          return { from };
        }),
      )
      .immediate();
  }

  /**
   * Drop generations beyond the newest `keep` (never the current one), the file sets and blocks
   * only they used, and every blob that nothing refers to any more. A blob leased to a running
   * sync (in any process) is never collected; those of runs that ended (committed, failed, or
   * found interrupted) are looked at here and collected unless something refers to them. Only
   * what a dropped generation or an ended run touched is examined: the cost grows with that,
   * not with the store. Sync runs keep their history; their link to a pruned generation is
   * cleared.
   */
  prune(repository: string, keep: number): { generations: number; blobs: number } {
    const repositoryId = this.repositoryId(repository);
    if (repositoryId === undefined) return { generations: 0, blobs: 0 };
    return this.db
      .transaction(() => {
        const doomed = this.db
          .prepare<unknown[], { id: number; fileSet: number | null; head: number | null }>(
            `SELECT id, file_set_id AS fileSet, head_block_id AS head FROM generations WHERE repository_id = ? AND id NOT IN (SELECT id FROM generations WHERE repository_id = ? ORDER BY id DESC LIMIT ?)
           AND id IS NOT (SELECT current_generation_id FROM repositories WHERE id = ?)`,
          )
          .all(repositoryId, repositoryId, keep, repositoryId);
        const fileSets = new Set<number>();
        const blocks = new Set<number>();
        for (const g of doomed) {
          this.sql('UPDATE sync_runs SET generation_id = NULL WHERE generation_id = ?').run(g.id);
          this.sql('DELETE FROM generations WHERE id = ?').run(g.id);
          if (g.fileSet !== null) fileSets.add(g.fileSet);
          if (g.head !== null) blocks.add(g.head);
        }
        for (const id of fileSets) {
          if (this.sql('SELECT 1 FROM generations WHERE file_set_id = ?').get(id)) continue;
          for (const block of this.sql<number>('SELECT block_id FROM file_set_blocks WHERE file_set_id = ?').pluck().all(id)) blocks.add(block);
          this.sql('DELETE FROM file_set_blocks WHERE file_set_id = ?').run(id);
          this.sql('DELETE FROM file_sets WHERE id = ?').run(id);
        }
        const candidates = new Set<string>();
        for (const id of blocks) {
          if (this.sql('SELECT 1 FROM file_set_blocks WHERE block_id = ?').get(id) || this.sql('SELECT 1 FROM generations WHERE head_block_id = ?').get(id)) continue;
          for (const sha of this.sql<string>('SELECT sha256 FROM block_files WHERE block_id = ? UNION SELECT sha256 FROM block_targets WHERE block_id = ?').pluck().all(id, id)) {
            candidates.add(sha);
          }
          this.sql('DELETE FROM block_files WHERE block_id = ?').run(id);
          this.sql('DELETE FROM block_targets WHERE block_id = ?').run(id);
          this.sql('DELETE FROM blocks WHERE id = ?').run(id);
        }
        // Leases of ended runs: what they wrote is either referenced by now or an orphan to collect.
        const endedRuns = `SELECT id FROM sync_runs WHERE outcome != 'running'`;
        for (const sha of this.sql<string>(`SELECT sha256 FROM sync_run_blobs WHERE run_id IN (${endedRuns})`).pluck().all()) candidates.add(sha);
        const written = `SELECT b.sha256 FROM sync_run_writes w JOIN blobs b ON b.rowid BETWEEN w.first_rowid AND w.last_rowid WHERE w.run_id IN (${endedRuns})`;
        for (const sha of this.sql<string>(written).pluck().all()) candidates.add(sha);
        this.sql(`DELETE FROM sync_run_blobs WHERE run_id IN (${endedRuns})`).run();
        this.sql(`DELETE FROM sync_run_writes WHERE run_id IN (${endedRuns})`).run();
        // Most candidates are targets' files, referenced: the first test usually answers.
        const deleteBlob = this.sql(
          `DELETE FROM blobs WHERE sha256 = @sha
         AND NOT EXISTS (SELECT 1 FROM block_targets WHERE sha256 = @sha)
         AND NOT EXISTS (SELECT 1 FROM block_files WHERE sha256 = @sha)
         AND NOT EXISTS (SELECT 1 FROM roots WHERE sha256 = @sha)
         AND NOT EXISTS (SELECT 1 FROM sync_run_blobs WHERE sha256 = @sha)
         AND NOT EXISTS (SELECT 1 FROM sync_run_writes w WHERE blobs.rowid BETWEEN w.first_rowid AND w.last_rowid)`,
        );
        let collected = 0;
        for (const sha of candidates) collected += deleteBlob.run({ sha }).changes;
        return { generations: doomed.length, blobs: collected };
      })
      .immediate();
  }

  /** Every file of the current generation has its blob and its blob its hash: what a crash must never break. */
  checkIntegrity(): string[] {
    const problems: string[] = [];
    const quick = this.db.pragma('quick_check', { simple: true });
    if (quick !== 'ok') problems.push(`sqlite quick_check: ${String(quick)}`);
    const rows = this.db
      .prepare<unknown[], { name: string; path: string; sha256: string; data: Buffer | null }>(
        `SELECT r.name, f.path, f.sha256, b.data FROM repositories r JOIN generation_files f ON f.generation_id = r.current_generation_id
         LEFT JOIN blobs b ON b.sha256 = f.sha256`,
      )
      .all();
    for (const r of rows) {
      if (!r.data) problems.push(`${r.name}: ${r.path} has no blob`);
      else if (sha256Hex(r.data) !== r.sha256) problems.push(`${r.name}: ${r.path} blob does not match its hash`);
    }
    return problems;
  }

  private toGeneration(row: GenerationRow): GenerationRecord {
    return this.record(
      {
        id: row.id,
        repository: row.name,
        createdAt: row.created_at,
        syncRunId: row.sync_run_id,
        rootVersion: row.root_version,
        timestampVersion: row.timestamp_version,
        snapshotVersion: row.snapshot_version,
        targetsVersion: row.targets_version,
      },
      storedJson(row.summary),
    );
  }

  /** A generation record whose summary reads its target names from the store when first asked (never in a spread or a log line). */
  private record(fields: Omit<GenerationRecord, 'summary'>, stored: StoredSummary): GenerationRecord {
    let names: string[] | undefined;
    const summary = Object.defineProperty({ ...stored }, 'targets', {
      get: () => (names ??= this.targetNames(fields.id)),
      enumerable: false,
    }) as GenerationSummary;
    return { ...fields, summary };
  }
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
    problems: row.problems ? storedJson(row.problems) : null,
  };
}

function toTargetInfo(row: TargetRow): TargetInfo {
  const info: TargetInfo = { name: row.name, role: row.role, length: row.length, hashes: storedJson(row.hashes) };
  if (row.custom !== null) info.custom = storedJson(row.custom);
  return info;
}

function toTargetRecord(row: TargetRow): TargetRecord {
  return { ...toTargetInfo(row), sha256: row.sha256 };
}

/** Problems as stored with a run: null when there are none, so a clean run reads as one. */
function problemsJson(problems: SyncProblems | undefined): string | null {
  if (!problems || (problems.failedRoles.length === 0 && problems.refusedTargets.length === 0)) return null;
  return JSON.stringify(problems);
}

/** Why a data dir cannot hold the store, as the error an operator can act on (a bug is rethrown as is). */
const NOT_WRITABLE = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST', 'SQLITE_CANTOPEN', 'SQLITE_READONLY', 'SQLITE_PERM']);
function unusableDataDir(dataDir: string, err: unknown): unknown {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string' || !NOT_WRITABLE.has(code)) return err;
  const who = process.getuid ? ` for uid ${process.getuid()}` : '';
  return new StoreError('DATA_DIR_NOT_WRITABLE', `data dir ${dataDir} is not writable (${code}): make it writable${who}, or give another with --data-dir, TUF_MIRROR_DATA_DIR or dataDir`);
}
