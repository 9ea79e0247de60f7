/**
 * The one place a bridge reads its source: a verified generation of a mirrored repository, turned
 * into the target files it resolves to. Targets are read through the store's resolved-target
 * reader (TUF's search as the sync recorded it, bytes checked against the length and every hash
 * the role signed), never by a plain path.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { RepositoryConfig } from '../config/config';
import { unsafePathReason } from '../lib/layout';
import { redactUrl } from '../lib/log';
import type { GenerationRecord, ResolvedTarget, Store, TargetInfo } from '../store/store';
import { BridgeError } from './errors';

export type SourceTarget = { name: string; bytes: Buffer; info: TargetInfo };

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

export type VerifiedSource = {
  generation: GenerationRecord;
  targets: SourceTarget[];
  /** Delegated parts the source's sync could not verify, none of which the bridged names resolve through. */
  notBridged: string[];
  provenance: Provenance;
};

const TOP_LEVEL = ['root', 'timestamp', 'snapshot', 'targets'];

/** The role a name resolves to when the top-level targets role lists it (TUF's search looks there first). */
const TOP_LEVEL_TARGETS = 'targets';

/**
 * A target name the site may sign: a plain relative path (lib/layout.ts unsafePathReason: no
 * empty, `.` or `..` segment, no backslash or control character). The source's sync refuses such names (they never resolve);
 * this is defence in depth: what the site's keys vouch for must be a name every client resolves safely.
 */
export function unsafeName(name: string): boolean {
  return unsafePathReason(name) !== undefined;
}

/**
 * What the run that committed the generation could not verify, split by whether the bridge needs
 * it. The bridge re-signs what the top-level targets role lists, and TUF's search finds those names
 * there before it looks at any delegation: a delegated role that failed (public-good's npm role,
 * re-signed on npm's own schedule, expires now and then) cannot change what they resolve to, so it
 * is only noted; a name the top-level role lists but the sync refused is a hole in exactly what
 * would be re-signed, so it refuses the generation as not verified in full.
 */
function unverifiedParts(generation: GenerationRecord): { blocking: string[]; notBridged: string[] } {
  const refused = generation.summary.refusedTargets ?? [];
  const describe = (t: (typeof refused)[number]): string => `target ${JSON.stringify(t.name)} of ${t.role} (${t.code})`;
  return {
    blocking: refused.filter((t) => t.role === TOP_LEVEL_TARGETS).map(describe),
    notBridged: [...(generation.summary.failedRoles ?? []).map((r) => `role ${r.role} (${r.code})`), ...refused.filter((t) => t.role !== TOP_LEVEL_TARGETS).map(describe)],
  };
}

/**
 * A resolved target of a generation with its bytes, or SOURCE_DAMAGED when the store's bytes no
 * longer match what the role signed (or the name no longer resolves).
 */
export function resolvedTargetOf(store: Store, generation: GenerationRecord, name: string, label: string): ResolvedTarget {
  let resolved: ResolvedTarget | undefined;
  try {
    resolved = store.resolvedTarget(generation.id, name);
  } catch (err) {
    throw new BridgeError('SOURCE_DAMAGED', `${label}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!resolved) throw new BridgeError('SOURCE_DAMAGED', `${label}: target ${name} does not resolve`);
  return resolved;
}

/**
 * The names the top-level targets role lists in a generation (the bridge's default), sorted; a
 * generation committed before resolutions were recorded has none to read through, which is refused.
 */
export function topLevelTargetNames(store: Store, generation: GenerationRecord, label: string): string[] {
  if (generation.summary.resolvedTargets === undefined) {
    throw new BridgeError('SOURCE_NOT_VERIFIED', `${label} was committed before target resolutions were recorded: the next sync of ${generation.repository} records them`);
  }
  return store
    .resolvedTargets(generation.id)
    .filter((t) => t.role === TOP_LEVEL_TARGETS)
    .map((t) => t.name);
}

/**
 * The top-level targets of `source`'s current generation as TUF resolves them, bytes checked
 * against the length and every hash the targets role signed. Refuses a generation that did not
 * verify in full what it would bridge (accepted expired, a top-level target refused), or whose top-level
 * metadata has expired since (a frozen source must not feed a new promotion).
 */
export function verifiedSourceTargets(store: Store, source: RepositoryConfig, now: Date = new Date()): VerifiedSource {
  const generation = store.currentGeneration(source.name);
  if (!generation) throw new BridgeError('SOURCE_EMPTY', `${source.name} holds no verified generation yet: sync it first`);
  const label = `${source.name} generation ${generation.id}`;
  const accepted = generation.summary.expiredMetadataAccepted;
  if (accepted?.length) {
    throw new BridgeError('SOURCE_NOT_VERIFIED', `${label} was imported with --allow-expired (${accepted.map((r) => `${r.role} v${r.version}`).join(', ')}): not verified in full`);
  }
  const unverified = unverifiedParts(generation);
  if (unverified.blocking.length) {
    throw new BridgeError('SOURCE_NOT_VERIFIED', `${label} was committed with parts it could not verify (${unverified.blocking.join(', ')}): not verified in full`);
  }
  const expired = generation.summary.roles.filter((r) => TOP_LEVEL.includes(r.role) && Date.parse(r.expires) <= now.getTime());
  if (expired.length) {
    throw new BridgeError('SOURCE_EXPIRED', `${label}: ${expired.map((r) => `${r.role} v${r.version} expired ${r.expires}`).join(', ')}; the source must sync again before anything new is bridged`);
  }

  const targets: SourceTarget[] = [];
  for (const name of topLevelTargetNames(store, generation, label)) {
    if (unsafeName(name)) throw new BridgeError('UNSAFE_TARGET_NAME', `${label}: target ${JSON.stringify(name)} is not a name the site will sign`);
    const { info, bytes } = resolvedTargetOf(store, generation, name, label);
    targets.push({ name, bytes, info });
  }
  const trustedRoot = targets.find((t) => t.name === 'trusted_root.json');
  return {
    generation,
    targets,
    notBridged: unverified.notBridged,
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
