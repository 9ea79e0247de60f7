/**
 * Import: a sync whose source is an export archive. Shared by `tuf-mirror import` and
 * `POST /api/v1/repositories/<name>/import`; everything that decides trust is in sync.ts.
 */
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { RoleProblem, TargetProblem } from '../store/store';
import { ArchiveSource, describeArchive } from './archive-source';
import { SyncError } from './errors';
import { syncRepository, type SyncOptions, type SyncResult } from './sync';

export type ImportOptions = Omit<SyncOptions, 'source' | 'allowExpiredMetadata'> & {
  /** The archive on disk. */
  file: string;
  /** How the run's source names it (default: the file name), e.g. `upload from 10.0.0.7`. */
  label?: string;
  /** How error messages name it (default: the label), e.g. `upload`. */
  name?: string;
  /** Its sha256 if already known (a spooled upload); else computed here. */
  sha256?: string;
  /** import.maxBytes: cap on the archive, compressed and unpacked. */
  maxBytes: number;
  /** Accept expired metadata, marking the generation (see SyncOptions.allowExpiredMetadata). */
  allowExpired?: boolean;
};

export type ArchiveInfo = { sha256?: string; bytes?: number };
export type ImportResult = SyncResult & { archive: ArchiveInfo };

/** Verify the archive as a sync would verify an upstream, and commit it as a generation if it passes. */
export async function importArchive(options: ImportOptions): Promise<ImportResult> {
  const { file, label = path.basename(file), name = label, sha256, maxBytes, allowExpired, ...sync } = options;
  const archive = await describeFile(file, maxBytes, sha256);
  const source = new ArchiveSource({ file, maxBytes, name, description: describeArchive(label, archive.sha256) });
  const result = await syncRepository({ ...sync, source, allowExpiredMetadata: allowExpired });
  return { ...result, archive };
}

/** Size and sha256 of the archive file; no hash past `maxBytes` (the import then says why), nothing if unreadable. */
async function describeFile(file: string, maxBytes: number, sha256?: string): Promise<ArchiveInfo> {
  try {
    const bytes = fs.statSync(file).size;
    if (sha256 || bytes > maxBytes) return { bytes, sha256 };
    const hash = createHash('sha256');
    for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
    return { bytes, sha256: hash.digest('hex') };
  } catch {
    return {};
  }
}

export type Spooled = { file: string; bytes: number; sha256: string };

/**
 * Stream `input` (an upload, stdin) into a file under `dir`, at most `maxBytes`: past that it
 * fails with RESPONSE_TOO_LARGE and leaves no file. The name starts with `sync-` so that a file
 * left by a killed process is swept with stale sync work dirs. The caller removes the file.
 */
export async function spoolToFile(input: Readable, dir: string, maxBytes: number): Promise<Spooled> {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `sync-upload-${randomUUID()}.tar.gz`);
  const out = fs.createWriteStream(file, { mode: 0o600 });
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    // destroyOnReturn false: past the cap the input (a request) stays open, so a 413 can still be answered on it.
    for await (const chunk of input.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > maxBytes) throw new SyncError('RESPONSE_TOO_LARGE', `the archive is more than the ${maxBytes} bytes allowed (import.maxBytes)`);
      hash.update(chunk);
      if (!out.write(chunk)) await once(out, 'drain');
    }
    out.end();
    await finished(out);
  } catch (err) {
    out.destroy();
    fs.rmSync(file, { force: true });
    throw err;
  }
  return { file, bytes, sha256: hash.digest('hex') };
}

/** The outcome of a sync or an import, as `--json` prints it and the API answers it. */
export type SyncReport = {
  repository: string;
  outcome: SyncResult['outcome'];
  /** The sync run that recorded it (null: none started, another one was running). */
  runId: number | null;
  /** The generation served now: the new one, the unchanged one, or (failed) the one still served. */
  generation: number | null;
  roles?: { role: string; version: number; expires: string }[];
  /** Roles that were already expired, accepted with --allow-expired / allowExpired=true. */
  expiredMetadataAccepted?: { role: string; version: number; expires: string }[];
  /** Delegated roles the import could not mirror, and target names it refused (see README "When something fails"). */
  failedRoles?: RoleProblem[];
  refusedTargets?: TargetProblem[];
  error?: { code: string; role: string | null; message: string };
  /** Files read from the upstream or the archive, and their bytes. */
  requests: number;
  bytes: number;
};

export type ImportReport = SyncReport & { archive: ArchiveInfo };

export function syncReport(repository: string, result: SyncResult, servedGeneration: number | null): SyncReport {
  const totals = { runId: result.runId, requests: result.requests, bytes: result.bytes };
  if (result.outcome === 'failed') {
    const { code, role, message } = result.error;
    return { repository, outcome: 'failed', generation: servedGeneration, error: { code, role: role ?? null, message }, ...totals };
  }
  const { summary } = result.generation;
  return {
    repository,
    outcome: result.outcome,
    generation: result.generation.id,
    roles: summary.roles,
    ...(summary.expiredMetadataAccepted ? { expiredMetadataAccepted: summary.expiredMetadataAccepted } : {}),
    ...(summary.failedRoles ? { failedRoles: summary.failedRoles } : {}),
    ...(summary.refusedTargets ? { refusedTargets: summary.refusedTargets } : {}),
    ...totals,
  };
}

/** The outcome as `tuf-mirror import --json` prints it and the import API answers it. */
export function importReport(repository: string, result: ImportResult, servedGeneration: number | null): ImportReport {
  return { ...syncReport(repository, result, servedGeneration), archive: result.archive };
}
