/**
 * Export archives: one generation in the upstream layout, for carrying across an air gap.
 *
 *   manifest.json              what the archive says it holds (informational, never trusted)
 *   repository/1.root.json     the files a TUF client of the upstream downloads, exactly as held:
 *   repository/…               N.root.json, timestamp.json, N.snapshot.json, N.targets.json,
 *                              N.<delegated>.json, targets/[dir/]<hash>.<name>
 *
 * Importing is a sync whose source is the archive (ArchiveSource): the same TUF client workflow,
 * from the receiving mirror's newest root or trust anchor, decides what is accepted. The manifest
 * only has to agree with the members (a cheap check against damage in transit); nothing in it
 * decides what is trusted.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import type { RepositoryConfig } from '../config/config';
import { metadataPath, targetPath } from '../lib/layout';
import { redactUrl } from '../lib/log';
import { packageVersion } from '../lib/paths';
import { sha256Hex, type GenerationRecord, type Store } from '../store/store';
import { SyncError } from './errors';
import type { FetchLimits, Source } from './source';
import { packTarGz, readTarGz } from './archive-tar';

export const ARCHIVE_FORMAT = 'tuf-mirror-archive';
export const ARCHIVE_FORMAT_VERSION = 1;
export const MANIFEST_MEMBER = 'manifest.json';
/** Repository files live under this prefix, so no role name can collide with the manifest. */
export const REPOSITORY_PREFIX = 'repository/';

const manifestSchema = z.object({
  format: z.literal(ARCHIVE_FORMAT),
  formatVersion: z.number().int(),
  repository: z.string(),
  upstream: z.string(),
  generation: z.number().int(),
  /** When the exporting mirror committed the generation (not when it was exported). */
  createdAt: z.string(),
  consistentSnapshot: z.boolean(),
  /** Root versions in the archive; with --since-root N, those after N. */
  roots: z.array(z.number().int()),
  sinceRoot: z.number().int().nullable(),
  roles: z.array(z.object({ role: z.string(), version: z.number().int(), expires: z.string() })),
  /** Every repository file: path in the upstream layout → length and sha256. */
  files: z.record(z.string(), z.object({ length: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })),
  exportedBy: z.string(),
});
export type ArchiveManifest = z.output<typeof manifestSchema>;

export class ExportError extends Error {
  constructor(
    /** NOTHING_HELD: no generation to export. SINCE_ROOT: --since-root names a root this mirror does not have. */
    readonly reason: 'NOTHING_HELD' | 'SINCE_ROOT',
    message: string,
  ) {
    super(message);
    this.name = 'ExportError';
  }
}

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
  for (const p of sorted) files[p] = { length: read(p).length, sha256: held.get(p)! };
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

export type ArchiveSourceOptions = {
  /** The archive on disk (an upload is spooled to a file first). */
  file: string;
  /** Cap on the archive, compressed and unpacked alike (config import.maxBytes). */
  maxBytes: number;
  /** For logs and the sync run's source, e.g. `archive sigstore.tar.gz (sha256:…)`. */
  description: string;
  /** How error messages name the archive (default: the file's name). */
  name?: string;
};

type Opened = { files: Map<string, Buffer>; roots: number[]; manifest: ArchiveManifest };

/**
 * A Source reading an export archive: the TUF workflow asks for paths of the upstream layout
 * and gets the members' bytes, untrusted like any download. A file the archive does not hold is
 * a 404 for the next root (the chain ends there) and ARCHIVE_INCOMPLETE for anything else.
 */
export class ArchiveSource implements Source {
  readonly description: string;
  private opened?: Promise<Opened>;
  private readonly name: string;

  constructor(private readonly options: ArchiveSourceOptions) {
    this.description = options.description;
    this.name = options.name ?? path.basename(options.file);
  }

  /** Read the whole archive and check its structure and manifest; memoized. */
  async open(): Promise<void> {
    await this.load();
  }

  /** What the archive's manifest says (informational only); after open(). */
  async manifest(): Promise<ArchiveManifest> {
    return (await this.load()).manifest;
  }

  async get(rel: string, limits: FetchLimits): Promise<Buffer> {
    if (limits.signal?.aborted) throw new SyncError('CANCELLED', `${this.name}/${rel}: import cancelled`);
    const { files, roots } = await this.load();
    const bytes = files.get(rel);
    if (bytes) {
      if (bytes.length > limits.maxBytes) {
        throw new SyncError('RESPONSE_TOO_LARGE', `${this.name}: ${rel} is ${bytes.length} bytes, more than the ${limits.maxBytes} allowed for it`);
      }
      return bytes;
    }
    const root = /^(\d+)\.root\.json$/.exec(rel);
    if (!root) throw new SyncError('ARCHIVE_INCOMPLETE', `${this.name} has no ${rel}, which the verified metadata names`);
    const wanted = Number(root[1]);
    if (roots.some((v) => v > wanted)) {
      // Not the end of the chain: a gap. Typically an export with --since-root above what this mirror holds.
      throw new SyncError(
        'ARCHIVE_INCOMPLETE',
        `${this.name} holds roots v${roots[0]}..v${roots.at(-1)} but not v${wanted}, the next one this mirror needs (it holds v${wanted - 1}): export with --since-root ${wanted - 1} or lower`,
      );
    }
    // The TUF root loop ends at the first root the source does not have.
    throw new SyncError('UPSTREAM_HTTP_ERROR', `${this.name}: no ${rel}`, undefined, { status: 404 });
  }

  private load(): Promise<Opened> {
    this.opened ??= this.read();
    return this.opened;
  }

  private async read(): Promise<Opened> {
    const { file, maxBytes } = this.options;
    let size: number;
    try {
      size = fs.statSync(file).size;
    } catch (err) {
      throw new SyncError('ARCHIVE_INVALID', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    if (size > maxBytes) throw new SyncError('RESPONSE_TOO_LARGE', `${this.name}: the archive is ${size} bytes, more than the ${maxBytes} allowed (import.maxBytes)`);
    const members = await readTarGz(fs.createReadStream(file), { maxBytes, name: this.name });

    const manifestBytes = members.get(MANIFEST_MEMBER);
    if (!manifestBytes) throw new SyncError('ARCHIVE_INVALID', `${this.name}: no ${MANIFEST_MEMBER}: not a tuf-mirror export archive`);
    const manifest = parseManifest(this.name, manifestBytes);
    const files = new Map<string, Buffer>();
    for (const [member, bytes] of members) {
      if (member === MANIFEST_MEMBER) continue;
      if (!member.startsWith(REPOSITORY_PREFIX)) throw new SyncError('ARCHIVE_INVALID', `${this.name}: unexpected member "${member}" (only ${MANIFEST_MEMBER} and ${REPOSITORY_PREFIX}…)`);
      files.set(member.slice(REPOSITORY_PREFIX.length), bytes);
    }
    checkManifest(this.name, manifest, files);
    const roots = [...files.keys()]
      .map((p) => /^(\d+)\.root\.json$/.exec(p)?.[1])
      .filter((v): v is string => v !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    return { files, roots, manifest };
  }
}

function parseManifest(name: string, bytes: Buffer): ArchiveManifest {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new SyncError('ARCHIVE_INVALID', `${name}: ${MANIFEST_MEMBER} is not JSON (${(err as Error).message})`);
  }
  const format = (json as { format?: unknown; formatVersion?: unknown } | null) ?? {};
  if (format.format === ARCHIVE_FORMAT && format.formatVersion !== ARCHIVE_FORMAT_VERSION) {
    throw new SyncError('ARCHIVE_INVALID', `${name}: archive format version ${String(format.formatVersion)}; this tuf-mirror reads version ${ARCHIVE_FORMAT_VERSION}`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SyncError('ARCHIVE_INVALID', `${name}: ${MANIFEST_MEMBER} is not a tuf-mirror manifest (${issue.path.join('.') || 'top level'}: ${issue.message})`);
  }
  return parsed.data;
}

/** The manifest must list exactly the members, with their lengths and sha256: else it says which differ. */
function checkManifest(name: string, manifest: ArchiveManifest, files: Map<string, Buffer>): void {
  const problems: string[] = [];
  for (const [p, bytes] of files) {
    const listed = manifest.files[p];
    if (!listed) {
      problems.push(`${p} is not listed`);
      continue;
    }
    const sha = sha256Hex(bytes);
    if (listed.length !== bytes.length || listed.sha256 !== sha) {
      problems.push(`${p} is ${bytes.length} bytes with sha256 ${sha.slice(0, 12)}…, listed as ${listed.length} bytes with ${listed.sha256.slice(0, 12)}…`);
    }
  }
  for (const p of Object.keys(manifest.files)) if (!files.has(p)) problems.push(`${p} is listed but missing`);
  if (problems.length) {
    const shown = problems.slice(0, 3).join('; ') + (problems.length > 3 ? `; and ${problems.length - 3} more` : '');
    throw new SyncError('ARCHIVE_MANIFEST_MISMATCH', `${name}: ${MANIFEST_MEMBER} does not match the archive (damaged or altered in transit?): ${shown}`);
  }
}

/** `archive sigstore.tar.gz (sha256:0123456789ab…)`: how a sync run records its source. */
export function describeArchive(label: string, sha256?: string): string {
  return `archive ${label}${sha256 ? ` (sha256:${sha256})` : ''}`;
}

