/**
 * The import side of an archive (sync/archive-format.ts): importing is a sync whose source is the
 * archive, so the same TUF client workflow, from the receiving mirror's newest root or trust
 * anchor, decides what is accepted. The manifest only has to agree with the members (a cheap
 * check against damage in transit); nothing in it decides what is trusted.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ownValue } from '../lib/records';
import { sha256Hex } from '../store/store';
import { MANIFEST_MEMBER, parseManifest, REPOSITORY_PREFIX, type ArchiveManifest } from './archive-format';
import { readTarGz } from './archive-tar';
import { SyncError } from './errors';
import type { FetchLimits, Source } from './source';

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
        `${this.name} holds roots v${roots[0]}..v${roots[roots.length - 1]} but not v${wanted}, the next one this mirror needs (it holds v${wanted - 1}): export with --since-root ${wanted - 1} or lower`,
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

/** The manifest must list exactly the members, with their lengths and sha256: else it says which differ. */
function checkManifest(name: string, manifest: ArchiveManifest, files: Map<string, Buffer>): void {
  const problems: string[] = [];
  for (const [p, bytes] of files) {
    const listed = ownValue(manifest.files, p);
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
