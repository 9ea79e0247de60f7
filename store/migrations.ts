import type Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { redactUrl } from '../lib/log';

/**
 * Schema history. Append only: a released migration never changes, a new one is added.
 * Each runs in its own transaction together with the bump of user_version.
 */
const MIGRATIONS: (string | ((db: Database.Database) => void))[] = [
  // 1: repositories, content-addressed blobs, generations, root history, sync runs and their lock
  `
  CREATE TABLE repositories (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    upstream TEXT NOT NULL,
    created_at TEXT NOT NULL,
    current_generation_id INTEGER REFERENCES generations(id)
  );
  CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    data BLOB NOT NULL
  );
  CREATE TABLE generations (
    id INTEGER PRIMARY KEY,
    repository_id INTEGER NOT NULL REFERENCES repositories(id),
    created_at TEXT NOT NULL,
    sync_run_id INTEGER REFERENCES sync_runs(id),
    root_version INTEGER NOT NULL,
    timestamp_version INTEGER NOT NULL,
    snapshot_version INTEGER NOT NULL,
    targets_version INTEGER NOT NULL,
    summary TEXT NOT NULL
  );
  CREATE INDEX generations_by_repository ON generations(repository_id, id);
  CREATE TABLE generation_files (
    generation_id INTEGER NOT NULL REFERENCES generations(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL REFERENCES blobs(sha256),
    PRIMARY KEY (generation_id, path)
  ) WITHOUT ROWID;
  CREATE INDEX generation_files_by_blob ON generation_files(sha256);
  CREATE TABLE roots (
    repository_id INTEGER NOT NULL REFERENCES repositories(id),
    version INTEGER NOT NULL,
    sha256 TEXT NOT NULL REFERENCES blobs(sha256),
    expires TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    PRIMARY KEY (repository_id, version)
  );
  CREATE TABLE sync_runs (
    id INTEGER PRIMARY KEY,
    repository_id INTEGER NOT NULL REFERENCES repositories(id),
    source TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('running', 'updated', 'unchanged', 'failed')),
    error_code TEXT,
    error_message TEXT,
    error_role TEXT,
    requests INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    generation_id INTEGER REFERENCES generations(id)
  );
  CREATE INDEX sync_runs_by_repository ON sync_runs(repository_id, id);
  CREATE TABLE sync_locks (
    repository_id INTEGER PRIMARY KEY REFERENCES repositories(id),
    owner TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    heartbeat_at INTEGER NOT NULL
  );
  `,
  // 2: what the watch side derived: events (rotations, trust material changes, state changes),
  // the last alert state per item (so one state change notifies once, across restarts), and how
  // far generations have been examined.
  `
  CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    repository_id INTEGER NOT NULL REFERENCES repositories(id),
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    generation_id INTEGER,
    data TEXT NOT NULL
  );
  CREATE INDEX events_by_repository ON events(repository_id, id);
  CREATE TABLE alert_states (
    repository_id INTEGER NOT NULL REFERENCES repositories(id),
    item TEXT NOT NULL,
    state TEXT NOT NULL,
    since TEXT NOT NULL,
    PRIMARY KEY (repository_id, item)
  );
  ALTER TABLE repositories ADD COLUMN watched_generation_id INTEGER;
  `,
  // 3: upstream URLs were stored as configured, `user:password@` included. Strip them from every
  // row that can hold one; secure_delete (set in migrate) zeroes the old bytes in the file.
  (db) => {
    const repositories = db.prepare<[], { id: number; upstream: string }>('SELECT id, upstream FROM repositories').all();
    const setUpstream = db.prepare('UPDATE repositories SET upstream = ? WHERE id = ?');
    for (const r of repositories) if (redactUrl(r.upstream) !== r.upstream) setUpstream.run(redactUrl(r.upstream), r.id);
    const runs = db.prepare<[], { id: number; source: string }>("SELECT id, source FROM sync_runs WHERE source LIKE '%@%'").all();
    const setSource = db.prepare('UPDATE sync_runs SET source = ? WHERE id = ?');
    for (const r of runs) if (redactUrl(r.source) !== r.source) setSource.run(redactUrl(r.source), r.id);
  },
  // 4: what each target name of a generation resolves to by TUF's own search (the signed info
  // and the role that signed it), so that nothing reads a target by its plain path; and what a
  // run that committed could not mirror (failed delegated roles, refused targets).
  `
  CREATE TABLE generation_targets (
    generation_id INTEGER NOT NULL REFERENCES generations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    length INTEGER NOT NULL,
    hashes TEXT NOT NULL,
    custom TEXT,
    sha256 TEXT NOT NULL REFERENCES blobs(sha256),
    PRIMARY KEY (generation_id, name)
  ) WITHOUT ROWID;
  CREATE INDEX generation_targets_by_blob ON generation_targets(sha256);
  ALTER TABLE sync_runs ADD COLUMN problems TEXT;
  `,
  // 5: what each cluster's refresh-cluster job reported last about each object it manages, when
  // the mirror received it, and when that cluster was last seen holding what the mirror served.
  // A new table only: IF NOT EXISTS lets a store stepped back to an older version migrate again.
  `
  CREATE TABLE IF NOT EXISTS cluster_outputs (
    repository_id INTEGER NOT NULL REFERENCES repositories(id),
    cluster TEXT NOT NULL,
    object TEXT NOT NULL,
    report TEXT NOT NULL,
    first_reported_at TEXT NOT NULL,
    reported_at TEXT NOT NULL,
    in_sync_at TEXT,
    PRIMARY KEY (repository_id, cluster, object)
  ) WITHOUT ROWID;
  `,
  // 6: a generation is no longer a list of every file: it is its own `timestamp.json` (the head
  // block) over a file set shared with every generation whose content below the timestamp is the
  // same, made of content-addressed blocks (the roots, the snapshot, each role's metadata, the
  // targets each role resolves, in buckets by name) that later file sets reuse. A timestamp-only
  // generation writes a handful of rows whatever the repository's size; a changed target, one
  // bucket's. A `targets` block stores resolutions only: the files of a target (one per signed
  // hash and the plain one) follow from its name and hashes, so they are derived, not stored.
  // Blobs a sync writes before it commits are leased to its run, so that no prune in any process
  // collects them while it runs: by rowid range, one row per batch (sync_run_writes: a batch's new
  // blobs are consecutive rows, one writer at a time), and one row per blob for blobs that were
  // held already (sync_run_blobs). Target names leave the summary.
  (db) => {
    db.exec(`
    CREATE TABLE blocks (
      id INTEGER PRIMARY KEY,
      repository_id INTEGER NOT NULL REFERENCES repositories(id),
      key TEXT NOT NULL,
      kind TEXT NOT NULL,
      role TEXT,
      part TEXT,
      files INTEGER NOT NULL,
      bytes INTEGER NOT NULL,
      targets INTEGER NOT NULL,
      UNIQUE (repository_id, key)
    );
    CREATE TABLE block_files (
      block_id INTEGER NOT NULL REFERENCES blocks(id),
      path TEXT NOT NULL,
      sha256 TEXT NOT NULL REFERENCES blobs(sha256),
      PRIMARY KEY (block_id, path)
    ) WITHOUT ROWID;
    CREATE INDEX block_files_by_blob ON block_files(sha256);
    CREATE INDEX block_files_by_path ON block_files(path);
    CREATE TABLE block_targets (
      block_id INTEGER NOT NULL REFERENCES blocks(id),
      name TEXT NOT NULL,
      role TEXT NOT NULL,
      length INTEGER NOT NULL,
      hashes TEXT NOT NULL,
      custom TEXT,
      sha256 TEXT NOT NULL REFERENCES blobs(sha256),
      PRIMARY KEY (block_id, name)
    ) WITHOUT ROWID;
    CREATE INDEX block_targets_by_blob ON block_targets(sha256);
    CREATE INDEX block_targets_by_name ON block_targets(name);
    CREATE TABLE file_sets (
      id INTEGER PRIMARY KEY,
      repository_id INTEGER NOT NULL REFERENCES repositories(id),
      key TEXT NOT NULL,
      UNIQUE (repository_id, key)
    );
    CREATE TABLE file_set_blocks (
      file_set_id INTEGER NOT NULL REFERENCES file_sets(id),
      block_id INTEGER NOT NULL REFERENCES blocks(id),
      PRIMARY KEY (file_set_id, block_id)
    ) WITHOUT ROWID;
    CREATE INDEX file_set_blocks_by_block ON file_set_blocks(block_id);
    CREATE TABLE sync_run_blobs (
      run_id INTEGER NOT NULL REFERENCES sync_runs(id),
      sha256 TEXT NOT NULL,
      PRIMARY KEY (run_id, sha256)
    ) WITHOUT ROWID;
    CREATE INDEX sync_run_blobs_by_blob ON sync_run_blobs(sha256);
    CREATE TABLE sync_run_writes (
      run_id INTEGER NOT NULL REFERENCES sync_runs(id),
      first_rowid INTEGER NOT NULL,
      last_rowid INTEGER NOT NULL,
      PRIMARY KEY (run_id, first_rowid)
    ) WITHOUT ROWID;
    ALTER TABLE generations ADD COLUMN file_set_id INTEGER REFERENCES file_sets(id);
    ALTER TABLE generations ADD COLUMN head_block_id INTEGER REFERENCES blocks(id);
    CREATE INDEX generations_by_file_set ON generations(file_set_id);
    CREATE INDEX generations_by_head ON generations(head_block_id);
    `);
    // Each generation written before becomes one "legacy" block holding all its files and
    // resolutions (generations with the same content share one), in a file set of its own.
    const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
    const generations = db.prepare<[], { id: number; repository_id: number; summary: string }>('SELECT id, repository_id, summary FROM generations ORDER BY id').all();
    const filesOf = db.prepare<[number], { path: string; sha256: string }>('SELECT path, sha256 FROM generation_files WHERE generation_id = ? ORDER BY path');
    const targetsOf = db.prepare<[number], TargetRow>('SELECT name, role, length, hashes, custom, sha256 FROM generation_targets WHERE generation_id = ? ORDER BY name');
    const sizeOf = db.prepare<[string], number>('SELECT size FROM blobs WHERE sha256 = ?');
    const findBlock = db.prepare<[number, string], number>('SELECT id FROM blocks WHERE repository_id = ? AND key = ?');
    const insertBlock = db.prepare(`INSERT INTO blocks (repository_id, key, kind, files, bytes, targets) VALUES (?, ?, 'legacy', ?, ?, ?)`);
    const insertFile = db.prepare('INSERT INTO block_files (block_id, path, sha256) VALUES (?, ?, ?)');
    const insertTarget = db.prepare('INSERT INTO block_targets (block_id, name, role, length, hashes, custom, sha256) VALUES (?, ?, ?, ?, ?, ?, ?)');
    const findSet = db.prepare<[number, string], number>('SELECT id FROM file_sets WHERE repository_id = ? AND key = ?');
    const insertSet = db.prepare('INSERT INTO file_sets (repository_id, key) VALUES (?, ?)');
    const insertSetBlock = db.prepare('INSERT INTO file_set_blocks (file_set_id, block_id) VALUES (?, ?)');
    const update = db.prepare('UPDATE generations SET file_set_id = ?, summary = ? WHERE id = ?');
    type TargetRow = { name: string; role: string; length: number; hashes: string; custom: string | null; sha256: string };
    for (const g of generations) {
      const files = filesOf.all(g.id);
      const targets = targetsOf.all(g.id);
      const key = `legacy:${sha256(JSON.stringify([files, targets]))}`;
      let block = findBlock.pluck().get(g.repository_id, key);
      if (block === undefined) {
        const bytes = files.reduce((n, f) => n + (sizeOf.pluck().get(f.sha256) ?? 0), 0);
        block = Number(insertBlock.run(g.repository_id, key, files.length, bytes, targets.length).lastInsertRowid);
        for (const f of files) insertFile.run(block, f.path, f.sha256);
        for (const t of targets) insertTarget.run(block, t.name, t.role, t.length, t.hashes, t.custom, t.sha256);
      }
      const setKey = sha256(key);
      let set = findSet.pluck().get(g.repository_id, setKey);
      if (set === undefined) {
        set = Number(insertSet.run(g.repository_id, setKey).lastInsertRowid);
        insertSetBlock.run(set, block);
      }
      const { targets: _names, ...summary } = JSON.parse(g.summary) as { targets?: unknown };
      update.run(set, JSON.stringify(summary), g.id);
    }
    // Readers of the old tables (tools, a person with sqlite3) keep a view of the same rows.
    db.exec(`
    DROP TABLE generation_files;
    DROP TABLE generation_targets;
    CREATE VIEW generation_blocks (generation_id, block_id) AS
      SELECT id, head_block_id FROM generations WHERE head_block_id IS NOT NULL
      UNION ALL SELECT g.id, s.block_id FROM generations g JOIN file_set_blocks s ON s.file_set_id = g.file_set_id;
    CREATE VIEW target_block_files (block_id, path, sha256) AS
      SELECT t.block_id, 'targets/' || rtrim(t.name, replace(t.name, '/', '')) || h.value || '.' || substr(t.name, length(rtrim(t.name, replace(t.name, '/', ''))) + 1), t.sha256
        FROM blocks k JOIN block_targets t ON t.block_id = k.id, json_each(t.hashes) h WHERE k.kind = 'targets'
      UNION
      SELECT t.block_id, 'targets/' || t.name, t.sha256 FROM blocks k JOIN block_targets t ON t.block_id = k.id WHERE k.kind = 'targets';
    CREATE VIEW generation_files (generation_id, path, sha256) AS
      SELECT b.generation_id, f.path, f.sha256 FROM generation_blocks b JOIN block_files f ON f.block_id = b.block_id
      UNION ALL
      SELECT b.generation_id, f.path, f.sha256 FROM generation_blocks b JOIN target_block_files f ON f.block_id = b.block_id;
    CREATE VIEW generation_targets (generation_id, name, role, length, hashes, custom, sha256) AS
      SELECT b.generation_id, t.name, t.role, t.length, t.hashes, t.custom, t.sha256 FROM generation_blocks b JOIN block_targets t ON t.block_id = b.block_id;
    `);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Bring the schema to `target` (default: the newest; tests build older ones to migrate from). */
export function migrate(db: Database.Database, target: number = MIGRATIONS.length): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`store schema version ${current} is newer than this tuf-mirror knows (${MIGRATIONS.length}); upgrade tuf-mirror`);
  }
  if (current >= target) return;
  db.pragma('secure_delete = ON');
  for (let v = current; v < target; v++) {
    const step = MIGRATIONS[v];
    db.transaction(() => {
      if (typeof step === 'string') db.exec(step);
      else step(db);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  // Old page images (credentials among them) must not linger in the write-ahead log either.
  db.pragma('wal_checkpoint(TRUNCATE)');
}
