/**
 * `tuf-mirror publish`: the served generation as a static tree in the exact upstream layout, for
 * nginx, an object store or a CDN to serve.
 *
 * Readers of the directory (a web server answering while we write) see a consistent repository
 * at every instant, because files appear in the order a TUF client follows references backwards:
 *
 *   1. versioned target files (`targets/[dir/]<hash>.<name>`), then versioned metadata below
 *      timestamp (`N.<delegated>.json`, `N.targets.json`, `N.snapshot.json` last): nothing refers
 *      to them yet, and a versioned file is never replaced by different bytes (refused up front,
 *      and written with link(2), which fails rather than overwrite);
 *   2. the unversioned copies, bottom-up (`targets/<name>`, `<delegated>.json`, `targets.json`,
 *      `snapshot.json`) for clients without consistent snapshots;
 *   3. new roots (`N.root.json`, then `root.json`) as late as possible: a client that sees root
 *      N+1 before the timestamp it signs could reject the old timestamp if its keys rotated;
 *   4. `timestamp.json` last: the switch. Until it lands, clients get the previous repository,
 *      all of whose files are still there (nothing is ever deleted: old versioned files stay).
 *
 * Every file is written to a temporary name in its final folder, fsynced, and renamed (or linked)
 * into place, so a reader never sees a partial file; folders are fsynced before the switch.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { systemCode } from '../lib/errors';
import { removeStaleTemporaries, writeAtomically, writeTemporary } from '../lib/atomic-file';
import { isVersionedPath, unsafePathReason } from '../lib/layout';
import { parseRoot, parseTimestamp } from '../lib/tuf-metadata';
import type { Store } from '../store/store';
import { PublishError } from './errors';

export { PublishError, type PublishErrorCode } from './errors';

export type PublishResult = {
  repository: string;
  /** The generation published. */
  generation: number;
  dir: string;
  /** Files of the served set (current generation plus the versioned files kept servable). */
  files: number;
  /** Files written now; the rest were already there with the same bytes. */
  written: number;
  unchanged: number;
  /** Bytes written now. */
  bytes: number;
  roles: { role: string; version: number; expires: string }[];
};

export type PublishOptions = {
  /** Versioned files of this many recent generations are published too (retention.servedGenerations). */
  servedGenerations?: number;
  /** Called with each file as it is written (the CLI's progress display). */
  onFile?: (path: string, bytes: number) => void;
};

/** The phase a file is written in (see the file comment); lower first. */
function phaseOf(p: string): number {
  if (p === 'timestamp.json') return 5;
  if (p === 'root.json' || /^[1-9][0-9]*\.root\.json$/.test(p)) return 4;
  const versioned = isVersionedPath(p);
  const target = p.startsWith('targets/');
  if (versioned) return target ? 0 : 1;
  return target ? 2 : 3;
}

/** Within a phase: snapshot after the targets roles it lists, root.json after every N.root.json, roots by version. */
function rankWithinPhase(p: string): [number, number, string] {
  const m = /^([1-9][0-9]*)\.(.+)\.json$/.exec(p);
  const role = m ? m[2] : p.replace(/\.json$/, '');
  const version = m ? Number(m[1]) : Number.MAX_SAFE_INTEGER;
  const roleRank = role === 'snapshot' ? 2 : role === 'targets' ? 1 : 0;
  return [roleRank, version, p];
}

export function publishOrder(paths: Iterable<string>): string[] {
  return [...paths].sort((a, b) => {
    const d = phaseOf(a) - phaseOf(b);
    if (d) return d;
    const [ra, va, pa] = rankWithinPhase(a);
    const [rb, vb, pb] = rankWithinPhase(b);
    return ra - rb || va - vb || (pa < pb ? -1 : pa > pb ? 1 : 0);
  });
}

/** A layout path is only ever relative, `/`-separated, with no `.`/`..`/empty segments. */
function safeJoin(dir: string, p: string): string {
  if (unsafePathReason(p)) throw new PublishError('UNSAFE_PATH', `refusing to publish "${p}": not a plain relative path`);
  return path.join(dir, ...p.split('/'));
}

function readIfExists(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    const code = systemCode(err);
    if (code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Put a versioned file in place without ever replacing one: link(2) fails with EEXIST where
 * rename(2) would overwrite. Returns false when the same bytes were already there.
 */
function placeVersioned(final: string, bytes: Buffer, p: string): boolean {
  const tmp = writeTemporary(final, bytes);
  try {
    try {
      fs.linkSync(tmp, final);
      return true;
    } catch (err) {
      const code = systemCode(err);
      if (code === 'EEXIST') {
        if (!readIfExists(final)?.equals(bytes))
          throw new PublishError('CONFLICT', `${p} exists with other bytes (another publisher, or not this repository's tree): not overwriting a versioned file`);
        return false;
      }
      // Filesystems without hard links (some FUSE mounts): check, then rename.
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') throw err;
      const existing = readIfExists(final);
      if (existing) {
        if (!existing.equals(bytes)) throw new PublishError('CONFLICT', `${p} exists with other bytes: not overwriting a versioned file`);
        return false;
      }
      fs.renameSync(tmp, final);
      return true;
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** `signed.version` of `timestamp.json` or `root.json`, undefined when absent or not such metadata. */
function signedVersion(name: 'timestamp.json' | 'root.json', bytes: Buffer | undefined): number | undefined {
  if (!bytes) return undefined;
  try {
    return (name === 'timestamp.json' ? parseTimestamp(bytes) : parseRoot(bytes)).signed.version;
  } catch {
    return undefined;
  }
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Not every platform or filesystem can fsync a folder; the files themselves are synced.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Write the served generation of `repository` into `dir` (created if missing). */
export function publishRepository(store: Store, repository: string, dir: string, options: PublishOptions = {}): PublishResult {
  const root = path.resolve(dir);
  const generation = store.currentGeneration(repository);
  const set = generation && store.servedSet(repository, options.servedGenerations ?? 5);
  if (!generation || !set) throw new PublishError('NOTHING_HELD', `${repository} holds no verified generation yet: run \`tuf-mirror sync ${repository}\` first`);

  const stat = fs.statSync(root, { throwIfNoEntry: false });
  if (stat && !stat.isDirectory()) throw new PublishError('NOT_A_DIRECTORY', `${root} exists and is not a directory`);

  const order = publishOrder(set.files.keys());
  const targets = new Map(order.map((p) => [p, safeJoin(root, p)]));
  removeStaleTemporaries(new Set([...targets.values()].map((f) => path.dirname(f))));

  const bodies = new Map<string, Buffer>();
  const body = (p: string): Buffer => {
    let b = bodies.get(p);
    if (!b) {
      const sha = set.files.get(p);
      b = sha === undefined ? undefined : store.blob(sha);
      if (!b) throw new Error(`store is missing blob ${String(sha)} for ${repository}/${p}`);
      bodies.set(p, b);
    }
    return b;
  };
  // Never roll a reader back: a tree already holding a newer timestamp or root (another
  // publisher, a newer store) is left alone.
  const noRollback = (): void => {
    for (const p of ['timestamp.json', 'root.json'] as const) {
      const mine = set.files.has(p) ? signedVersion(p, body(p)) : undefined;
      const theirs = signedVersion(p, readIfExists(targets.get(p) ?? path.join(root, p)));
      if (mine !== undefined && theirs !== undefined && theirs > mine) {
        throw new PublishError('CONFLICT', `${path.join(root, p)} is version ${theirs}, newer than the ${mine} of generation ${set.generationId}: not rolling readers back`);
      }
    }
  };
  noRollback();
  // Refuse before writing anything: a versioned file that exists with other bytes means this is
  // not (only) this repository's tree, and clients may have cached it forever.
  const todo: [string, string][] = [];
  for (const [p, file] of targets) {
    const existing = readIfExists(file);
    if (!existing?.equals(body(p))) {
      if (existing !== undefined && isVersionedPath(p))
        throw new PublishError('CONFLICT', `${path.join(root, p)} exists with other bytes: not overwriting a versioned file (publish into an empty directory, or this repository's own tree)`);
      todo.push([p, file]);
    }
  }

  let bytesWritten = 0;
  let written = 0;
  const touchedDirs = new Set<string>();
  for (const [p, file] of todo) {
    const bytes = body(p);
    if (p === 'timestamp.json') {
      for (const d of touchedDirs) fsyncDir(d);
      noRollback(); // again: another publisher may have switched the tree meanwhile
    }
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    const placed = isVersionedPath(p) ? placeVersioned(file, bytes, p) : (writeAtomically(file, bytes), true);
    if (placed) {
      written++;
      bytesWritten += bytes.length;
      touchedDirs.add(path.dirname(file));
      options.onFile?.(p, bytes.length);
    }
  }
  for (const d of touchedDirs) fsyncDir(d);

  return {
    repository,
    generation: set.generationId,
    dir: root,
    files: order.length,
    written,
    unchanged: order.length - written,
    bytes: bytesWritten,
    roles: generation.summary.roles,
  };
}
