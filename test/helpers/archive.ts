/**
 * Tools for archive tests: read an archive's members, rebuild it altered (as an attacker or a
 * damaged medium would), and import bytes into a running test mirror.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import type { Config } from '../../config/config';
import { silentLogger } from '../../lib/log';
import type { Service } from '../../server/service';
import { sha256Hex } from '../../store/store';
import { MANIFEST_MEMBER, REPOSITORY_PREFIX, type ArchiveManifest } from '../../sync/archive-format';
import { packTarGz, readTarGz, type TarMember } from '../../sync/archive-tar';
import { importArchive, type ImportResult } from '../../sync/import';
import { configuredSyncOptions } from '../../sync/sync';
import { tempDir } from './mirror';

/** Every member of an archive, in archive order. */
export async function membersOf(archive: Buffer): Promise<Map<string, Buffer>> {
  return readTarGz(Readable.from([archive]), { maxBytes: 1 << 30, name: 'test' });
}

export async function manifestOf(archive: Buffer): Promise<ArchiveManifest> {
  return JSON.parse((await membersOf(archive)).get(MANIFEST_MEMBER)!.toString('utf8')) as ArchiveManifest;
}

/** The repository files of an archive, by upstream path. */
export async function filesOf(archive: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const [p, bytes] of await membersOf(archive)) if (p.startsWith(REPOSITORY_PREFIX)) out.set(p.slice(REPOSITORY_PREFIX.length), bytes);
  return out;
}

/**
 * An archive of `files` (upstream paths) whose manifest matches them: what an attacker who knows
 * the format makes, so that only TUF verification stands between it and the mirror.
 */
export function forgeArchive(files: Map<string, Buffer>, manifestBase?: Partial<ArchiveManifest>): Buffer {
  const sorted = [...files.keys()].sort();
  const manifest = {
    format: 'tuf-mirror-archive',
    formatVersion: 1,
    repository: 'sigstore',
    upstream: 'https://example.invalid',
    generation: 1,
    createdAt: '2026-08-22T00:00:00.000Z',
    consistentSnapshot: true,
    roots: [],
    sinceRoot: null,
    roles: [],
    exportedBy: 'test',
    ...manifestBase,
    files: Object.fromEntries(sorted.map((p) => [p, { length: files.get(p)!.length, sha256: sha256Hex(files.get(p)!) }])),
  };
  return packTarGz([{ path: MANIFEST_MEMBER, bytes: Buffer.from(JSON.stringify(manifest, null, 2)) }, ...sorted.map((p) => ({ path: REPOSITORY_PREFIX + p, bytes: files.get(p)! }))]);
}

/** An archive's files changed by `mutate`, re-manifested (`fixManifest`) or with the original manifest kept. */
export async function alter(archive: Buffer, mutate: (files: Map<string, Buffer>) => void, fixManifest: boolean): Promise<Buffer> {
  const members = await membersOf(archive);
  const files = await filesOf(archive);
  mutate(files);
  if (fixManifest) return forgeArchive(files, await manifestOf(archive));
  return packTarGz([{ path: MANIFEST_MEMBER, bytes: members.get(MANIFEST_MEMBER)! }, ...[...files.keys()].sort().map((p) => ({ path: REPOSITORY_PREFIX + p, bytes: files.get(p)! }))]);
}

/** Raw members, for container-level attacks (links, traversal, duplicates). */
export function rawArchive(members: TarMember[]): Buffer {
  return packTarGz(members);
}

/** Import `bytes` into a running test mirror as `tuf-mirror import` would, then serve the result. */
export async function importBytes(mirror: Service, config: Config, bytes: Buffer, options: { allowExpired?: boolean; maxBytes?: number; repository?: string } = {}): Promise<ImportResult> {
  const file = path.join(tempDir('tuf-mirror-archive-'), 'archive.tar.gz');
  fs.writeFileSync(file, bytes);
  const repository = config.repositories.find((r) => r.name === (options.repository ?? 'sigstore'))!;
  try {
    return await importArchive({
      store: mirror.store,
      repository,
      logger: silentLogger,
      ...configuredSyncOptions(config),
      file,
      maxBytes: options.maxBytes ?? config.import.maxBytes,
      allowExpired: options.allowExpired,
    });
  } finally {
    mirror.index.reload();
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}

/**
 * One byte of the signed part changed so the JSON stays valid: the first digit after `"expires"`
 * moves by one. Only a signature check can catch it.
 */
export function alterSigned(bytes: Buffer): Buffer {
  const at = bytes.indexOf('"expires"');
  if (at < 0) throw new Error('no "expires" field');
  const copy = Buffer.from(bytes);
  for (let i = at + 9; i < copy.length; i++) {
    if (copy[i] >= 0x30 && copy[i] <= 0x39) {
      copy[i] = 0x30 + ((copy[i] - 0x30 + 1) % 10);
      return copy;
    }
  }
  throw new Error('no digit after "expires"');
}
