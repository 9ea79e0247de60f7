/**
 * Export: the repository's current generation as an archive (sync/archive-format.ts) to carry
 * across an air gap; sync/import.ts takes it in on the other side.
 */
import type { RepositoryConfig } from '../config/config';
import { metadataPath, targetPath } from '../lib/layout';
import { redactUrl } from '../lib/log';
import { packageVersion } from '../lib/paths';
import type { GenerationRecord, Store } from '../store/store';
import { ARCHIVE_FORMAT, ARCHIVE_FORMAT_VERSION, MANIFEST_MEMBER, REPOSITORY_PREFIX, type ArchiveManifest } from './archive-format';
import { packTarGz } from './archive-tar';
import { ExportError } from './errors';

export { ExportError } from './errors';

export type ExportOptions = {
  /** The receiving side holds roots up to vN: leave them out (default: every root held). */
  sinceRoot?: number;
  /** Called with each member as it is packed (the CLI's progress display). */
  onFile?: (path: string, bytes: number) => void;
};

export type Export = { bytes: Buffer; manifest: ArchiveManifest; generation: GenerationRecord };

/**
 * The repository's current generation as a tar.gz. Deterministic: the same generation (and
 * options) gives the same bytes: members sorted, fixed headers, created-at from the generation.
 */
export function exportGeneration(store: Store, repository: RepositoryConfig, options: ExportOptions = {}): Export {
  const generation = store.currentGeneration(repository.name);
  if (!generation) throw new ExportError('NOTHING_HELD', `${repository.name} holds nothing yet: run a sync (or an import) first`);
  const { shas: held, read } = store.generationReader(generation);

  const newestRoot = generation.rootVersion;
  const sinceRoot = options.sinceRoot;
  if (sinceRoot !== undefined && (!Number.isInteger(sinceRoot) || sinceRoot < 0 || sinceRoot > newestRoot)) {
    throw new ExportError('SINCE_ROOT', `--since-root ${sinceRoot}: this mirror's newest root is v${newestRoot}, so a receiving side cannot hold a later one`);
  }
  const consistent = signedOf(read(metadataPath('root', newestRoot))).consistent_snapshot === true;

  const paths = new Set<string>();
  const roots = generation.summary.rootVersions.filter((v) => v > (sinceRoot ?? 0));
  for (const v of roots) paths.add(metadataPath('root', v));
  paths.add(metadataPath('timestamp'));
  for (const { role, version } of generation.summary.roles) {
    if (role === 'root' || role === 'timestamp') continue;
    paths.add(consistent ? metadataPath(role, version) : metadataPath(role));
  }
  // Target files, from the targets metadata itself: what a client of the upstream downloads.
  // A target a delegated role lists outside its delegated paths was never fetched: not held.
  for (const { role, version } of generation.summary.roles) {
    if (role === 'root' || role === 'timestamp' || role === 'snapshot') continue;
    const signed = signedOf(read(consistent ? metadataPath(role, version) : metadataPath(role))) as { targets?: Record<string, { hashes: Record<string, string> }> };
    for (const [name, info] of Object.entries(signed.targets ?? {})) {
      const candidates = consistent ? Object.values(info.hashes).map((h) => targetPath(name, h)) : [targetPath(name)];
      for (const p of candidates) if (held.has(p)) paths.add(p);
    }
  }

  const sorted = [...paths].sort();
  const files: ArchiveManifest['files'] = {};
  for (const p of sorted) {
    const sha256 = held.get(p);
    // A path the generation lacks: as read() would say it.
    if (sha256 === undefined) throw new Error(`generation ${generation.id} of ${generation.repository} lacks ${p}`);
    files[p] = { length: read(p).length, sha256 };
  }
  const manifest: ArchiveManifest = {
    format: ARCHIVE_FORMAT,
    formatVersion: ARCHIVE_FORMAT_VERSION,
    repository: repository.name,
    upstream: redactUrl(repository.upstream),
    generation: generation.id,
    createdAt: generation.createdAt,
    consistentSnapshot: consistent,
    roots,
    sinceRoot: sinceRoot ?? null,
    roles: generation.summary.roles.map(({ role, version, expires }) => ({ role, version, expires })),
    files,
    exportedBy: `tuf-mirror/${packageVersion()}`,
  };
  const bytes = packTarGz([
    { path: MANIFEST_MEMBER, bytes: Buffer.from(JSON.stringify(manifest, null, 2) + '\n') },
    ...sorted.map((p) => {
      const bytes = read(p);
      options.onFile?.(p, bytes.length);
      return { path: REPOSITORY_PREFIX + p, bytes };
    }),
  ]);
  return { bytes, manifest, generation };
}

function signedOf(bytes: Buffer): Record<string, unknown> {
  return (JSON.parse(bytes.toString('utf8')) as { signed: Record<string, unknown> }).signed;
}
