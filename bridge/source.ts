/**
 * The one place a bridge reads its source: a verified generation of a mirrored repository, turned
 * into the target files it resolves to, each checked against every hash its role signed.
 *
 * After the trust-core change (#12) lands, this reads the generation through the store's
 * resolved-target method (which checks every signed hash itself) instead of parsing targets.json
 * here, and refuses a generation committed with a failed delegated role (see failedRoles below).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { Metadata, MetadataKind, type TargetFile } from '@tufjs/models';
import { z } from 'zod';
import type { RepositoryConfig } from '../config/config';
import { metadataPath, targetPath } from '../lib/layout';
import { redactUrl } from '../lib/log';
import type { GenerationRecord, Store } from '../store/store';
import { BridgeError } from './errors';

export type SourceTarget = { name: string; bytes: Buffer; info: TargetFile };

/** Where a bridged target's bytes were verified; signed into the site's targets metadata. */
export const provenanceSchema = z.object({
  /** The source repository's name in this configuration, and its upstream. */
  source: z.string(),
  url: z.string(),
  generation: z.number().int(),
  root: z.number().int(),
  targets: z.number().int(),
  snapshot: z.number().int(),
  timestamp: z.number().int(),
  /** sha256 of the source's trusted_root.json (null: it has none). */
  trustedRootSha256: z.string().nullable(),
  /** When the source sync verified the generation. */
  verifiedAt: z.string(),
});
export type Provenance = z.infer<typeof provenanceSchema>;

export type VerifiedSource = { generation: GenerationRecord; targets: SourceTarget[]; provenance: Provenance };

const TOP_LEVEL = ['root', 'timestamp', 'snapshot', 'targets'];

/**
 * A target name the site may sign: relative, `/`-separated, no empty, `.` or `..` segment, no
 * backslash or control character. The source's sync may have stored worse (#12 refuses such names
 * at sync time); what the site's keys vouch for must be a name every client resolves safely.
 */
function unsafeName(name: string): boolean {
  return name.startsWith('/') || /[\\\x00-\x1f\x7f]/.test(name) || name.split('/').some((s) => s === '' || s === '.' || s === '..');
}

/** The files of one generation by layout path; a missing one means a damaged store. */
export function generationReader(store: Store, generation: GenerationRecord, label: string): (path: string) => Buffer {
  const files = store.generationFiles(generation.id);
  return (p) => {
    const sha = files.get(p);
    const bytes = sha === undefined ? undefined : store.blob(sha);
    if (!bytes) throw new BridgeError('SOURCE_DAMAGED', `${label} lacks ${p}`);
    return bytes;
  };
}

/**
 * Delegated roles that failed when the generation was committed. Until #12 there are none: a
 * failing delegated role fails the whole sync. #12 records them per generation; return them here.
 */
function failedRoles(_generation: GenerationRecord): string[] {
  return []; // #12: return the generation's failed delegated roles (summary field added by #12).
}

/**
 * The top-level targets of `source`'s current generation, bytes checked against the length and
 * every hash the targets role signed. Refuses a generation that did not verify in full, or whose
 * top-level metadata has expired since (a frozen source must not feed a new promotion).
 */
export async function verifiedSourceTargets(store: Store, source: RepositoryConfig, now: Date = new Date()): Promise<VerifiedSource> {
  const generation = store.currentGeneration(source.name);
  if (!generation) throw new BridgeError('SOURCE_EMPTY', `${source.name} holds no verified generation yet: sync it first`);
  const label = `${source.name} generation ${generation.id}`;
  const accepted = generation.summary.expiredMetadataAccepted;
  if (accepted?.length) {
    throw new BridgeError('SOURCE_NOT_VERIFIED', `${label} was imported with --allow-expired (${accepted.map((r) => `${r.role} v${r.version}`).join(', ')}): not verified in full`);
  }
  const failed = failedRoles(generation);
  if (failed.length) throw new BridgeError('SOURCE_NOT_VERIFIED', `${label} was committed with failed delegated roles (${failed.join(', ')}): not verified in full`);
  const expired = generation.summary.roles.filter((r) => TOP_LEVEL.includes(r.role) && Date.parse(r.expires) <= now.getTime());
  if (expired.length) {
    throw new BridgeError('SOURCE_EXPIRED', `${label}: ${expired.map((r) => `${r.role} v${r.version} expired ${r.expires}`).join(', ')}; the source must sync again before anything new is bridged`);
  }

  const read = generationReader(store, generation, label);
  const targetsBytes = read(metadataPath('targets', generation.targetsVersion));
  let targetsMetadata;
  try {
    targetsMetadata = Metadata.fromJSON(MetadataKind.Targets, JSON.parse(targetsBytes.toString('utf8')));
  } catch (err) {
    throw new BridgeError('SOURCE_DAMAGED', `${label}: targets v${generation.targetsVersion} does not parse: ${(err as Error).message}`);
  }
  const targets: SourceTarget[] = [];
  for (const [name, info] of Object.entries(targetsMetadata.signed.targets).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (unsafeName(name)) throw new BridgeError('UNSAFE_TARGET_NAME', `${label}: target ${JSON.stringify(name)} is not a name the site will sign`);
    const hash = info.hashes.sha256 ?? Object.values(info.hashes)[0];
    if (!hash) throw new BridgeError('SOURCE_DAMAGED', `${label}: target ${name} lists no hash`);
    const bytes = read(targetPath(name, hash));
    try {
      await info.verify(Readable.from([bytes]));
    } catch (err) {
      throw new BridgeError('SOURCE_DAMAGED', `${label}: target ${name} does not match its signed length and hashes: ${(err as Error).message}`);
    }
    targets.push({ name, bytes, info });
  }
  const trustedRoot = targets.find((t) => t.name === 'trusted_root.json');
  return {
    generation,
    targets,
    provenance: {
      source: source.name,
      url: redactUrl(source.upstream),
      generation: generation.id,
      root: generation.rootVersion,
      targets: generation.targetsVersion,
      snapshot: generation.snapshotVersion,
      timestamp: generation.timestampVersion,
      trustedRootSha256: trustedRoot ? createHash('sha256').update(trustedRoot.bytes).digest('hex') : null,
      verifiedAt: generation.createdAt,
    },
  };
}
