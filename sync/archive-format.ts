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
import { z } from 'zod';
import { SyncError } from './errors';

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

/** The manifest member, parsed: a SyncError (ARCHIVE_INVALID) names what is wrong with it. */
export function parseManifest(name: string, bytes: Buffer): ArchiveManifest {
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
