import type Database from 'better-sqlite3';
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
    const repositories = db.prepare('SELECT id, upstream FROM repositories').all() as { id: number; upstream: string }[];
    const setUpstream = db.prepare('UPDATE repositories SET upstream = ? WHERE id = ?');
    for (const r of repositories) if (redactUrl(r.upstream) !== r.upstream) setUpstream.run(redactUrl(r.upstream), r.id);
    const runs = db.prepare("SELECT id, source FROM sync_runs WHERE source LIKE '%@%'").all() as { id: number; source: string }[];
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
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`store schema version ${current} is newer than this tuf-mirror knows (${MIGRATIONS.length}); upgrade tuf-mirror`);
  }
  if (current === MIGRATIONS.length) return;
  db.pragma('secure_delete = ON');
  for (let v = current; v < MIGRATIONS.length; v++) {
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
