/**
 * What a sync need not prove again, because the held generation proved it under the same root
 * and nothing it relied on went stale. Three shortcuts, each taken only when the full walk
 * would produce exactly what it produces (sync/walk.ts falls back to the full walk otherwise):
 *
 *   no-op           the upstream's timestamp.json is the held one: the run ends after step 2
 *   timestamp only  a new timestamp naming the held snapshot: the held body is the new one's
 *   hash-bin leaves a new snapshot whose changed roles are leaves of a hash-disjoint delegation
 *                   of the top-level targets (succinct bins, or path_hash_prefixes that do not
 *                   overlap): only those roles are fetched, verified and resolved, and only their
 *                   blocks (and the snapshot's) are new
 *
 * Why the last one is exact: with hash-disjoint delegations, TUF's search for a name visits the
 * top-level targets and then the one role whose hash range holds the name. A name listed by a
 * changed leaf resolves as the top-level role and that leaf say, and no other role's names can
 * resolve differently while the top-level targets and every other role stay the same.
 */
import type { Metadata, MetaFile, Snapshot, Targets } from '@tufjs/models';
import { metadataPath, targetFilePaths, unsafeTargetName } from '../lib/layout';
import { ownValue } from '../lib/records';
import { fileSetKey, type GenerationRecord, type NewBlock, type TargetProblem } from '../store/store';
import { groupTargets, headBlock, metadataBlock, metadataPart, signedTarget, snapshotBlock, targetsBlock, unusedBlobs, type SignedTarget } from './blocks';
import { isTransportFailure, SyncError } from './errors';
import type { HeldGeneration } from './held';
import { byName, malformedHashes, printable } from './refusals';
import { TargetFiles } from './target-files';
import { CLIENT_LIMITS, searchTarget, type Reach, type TrustedSet } from './tuf-client';
import type { WalkOptions, WalkResult } from './walk-types';

/** Problems a later run finds again, whatever the upstream does, as long as the metadata stays the same. */
const SETTLED_ROLE_CODES = new Set(['ROLE_NAME_UNSAFE', 'EXPIRED_METADATA']);
const SETTLED_TARGET_CODES = new Set(['TARGET_NAME_UNSAFE', 'MALFORMED_METADATA', 'PATH_COLLISION']);
const TOP_LEVEL = new Set(['root', 'timestamp', 'snapshot', 'targets']);

/** A held generation whose every proof still stands. */
export type Settled = { generation: GenerationRecord };

/**
 * The held generation, if what it proved still holds now: the same root; no role it serves
 * expired since (the timestamp is checked anew); resolutions recorded; no problem a retry could
 * clear (a role or file that was missing, badly signed, over a cap) and no more delegated roles
 * than the cap allows now.
 */
export function settledGeneration(held: HeldGeneration, trusted: TrustedSet, options: Pick<WalkOptions, 'referenceTime' | 'maxDelegatedRoles'>): Settled | undefined {
  const generation = held.generation;
  if (generation?.summary.resolvedTargets === undefined) return undefined;
  if (trusted.root.signed.version !== generation.rootVersion) return undefined;
  const { roles, failedRoles = [], refusedTargets = [] } = generation.summary;
  if (failedRoles.some((f) => !SETTLED_ROLE_CODES.has(f.code))) return undefined;
  if (refusedTargets.some((t) => !SETTLED_TARGET_CODES.has(t.code))) return undefined;
  const failed = new Set(failedRoles.map((f) => f.role));
  const now = options.referenceTime.getTime();
  if (roles.some((r) => r.role !== 'timestamp' && !failed.has(r.role) && !(now < Date.parse(r.expires)))) return undefined;
  const delegated = new Set([...roles.map((r) => r.role), ...failed].filter((r) => !TOP_LEVEL.has(r)));
  if (delegated.size > options.maxDelegatedRoles) return undefined;
  return { generation };
}

/** The new timestamp over the held body: a head block and a generation row, whatever the repository's size. */
export function timestampOnly(settled: Settled, held: HeldGeneration, trusted: TrustedSet, timestamp: Buffer): WalkResult | undefined {
  const body = held.body();
  if (!body) return undefined;
  if (body.headBlockId === null || body.fileSetId === null || body.fileSetKey === null) return undefined; // written before blocks
  const g = settled.generation;
  const t = trusted.timestamp.signed;
  return {
    kind: 'walked',
    head: headBlock(timestamp),
    body: { fileSetId: body.fileSetId },
    fileSetKey: body.fileSetKey,
    roots: [],
    unused: [],
    versions: { root: g.rootVersion, timestamp: t.version, snapshot: g.snapshotVersion, targets: g.targetsVersion },
    summary: {
      roles: g.summary.roles.map((r) => (r.role === 'timestamp' ? { role: 'timestamp', version: t.version, expires: t.expires } : r)),
      rootVersions: g.summary.rootVersions,
      ...(g.summary.failedRoles ? { failedRoles: g.summary.failedRoles } : {}),
      ...(g.summary.refusedTargets ? { refusedTargets: g.summary.refusedTargets } : {}),
    },
  };
}

export type IncrementalInput = {
  options: WalkOptions;
  held: HeldGeneration;
  settled: Settled;
  trusted: TrustedSet;
  timestamp: Buffer;
  snapshot: Buffer;
  /** The held snapshot the new one replaced. */
  previous: Metadata<Snapshot>;
  /** Role files downloaded here, for the full walk if it has to take over. */
  fetchedRoles: Map<string, Buffer>;
};

/**
 * A new snapshot that changed only leaves of a hash-disjoint delegation of the top-level targets:
 * those leaves are fetched, verified and resolved; everything else is the held generation's.
 * Undefined when that is not the case (or something about it fails: the full walk then says what).
 */
export async function incrementalWalk(input: IncrementalInput): Promise<WalkResult | undefined> {
  const { options, held, settled, trusted } = input;
  const layout = held.layout();
  if (!layout) return undefined;
  if (layout.headBlockId === null || layout.fileSetId === null) return undefined;
  const g = settled.generation;
  const { roles, failedRoles = [], refusedTargets = [] } = g.summary;
  if (refusedTargets.some((t) => t.code === 'PATH_COLLISION')) return undefined;
  const failed = new Set(failedRoles.map((f) => f.role));
  const walked = new Set(roles.map((r) => r.role).filter((r) => r !== 'root' && r !== 'timestamp' && r !== 'snapshot' && !failed.has(r)));

  const changed: string[] = [];
  const before = input.previous.signed.meta;
  for (const [file, meta] of Object.entries(trusted.snapshot.signed.meta)) {
    const role = file.replace(/\.json$/, '');
    const was = ownValue(before, file);
    if (was && sameMeta(was, meta)) continue;
    if (failed.has(role)) return undefined; // a failed role has a new version: the full walk tries it
    if (walked.has(role)) changed.push(role);
  }
  if (changed.includes('targets')) return undefined;
  // No walked role but the top-level targets delegates: a changed leaf is on no other role's search path.
  const parts = new Map(layout.blocks.filter((b) => b.kind === 'metadata').map((b) => [b.role, b.part]));
  for (const role of walked) if (role !== 'targets' && parts.get(role) !== 'leaf') return undefined;
  if (changed.some((role) => refusedTargets.some((t) => t.role === role))) return undefined;

  const blocks: NewBlock[] = [snapshotBlock(trusted.snapshot.signed.version, input.snapshot)];
  const touched = new Set<string>();
  const newRoles = new Map<string, { version: number; expires: string }>();
  const refused: TargetProblem[] = [];
  if (changed.length) {
    const targetsBytes = held.file(metadataPath('targets', g.targetsVersion));
    if (!targetsBytes) return undefined;
    let top: Metadata<Targets>;
    try {
      top = trusted.readTargets('targets', targetsBytes);
      trusted.checkTargets('targets', top, { name: 'root', metadata: trusted.root });
    } catch {
      return undefined;
    }
    if (!hashDisjoint(top)) return undefined;
    const leaves = new Map<string, Metadata<Targets>>();
    for (const role of changed) {
      if (!delegates(top, role)) return undefined;
      const loaded = await loadLeaf(input, role, top);
      if (!loaded) return undefined;
      leaves.set(role, loaded.metadata);
      newRoles.set(role, { version: loaded.metadata.signed.version, expires: loaded.metadata.signed.expires });
      blocks.push(metadataBlock(role, loaded.metadata, loaded.bytes));
    }
    const resolved = resolveLeaves(top, leaves, new Set(refusedTargets.map((t) => t.name)), refused);
    if (!resolved) return undefined;
    const groups = [...groupTargets(resolved).values()];
    const files = new TargetFiles({ ...options, held, consistentSnapshot: trusted.consistentSnapshot, concurrency: options.downloadConcurrency });
    const { fetched, failed: failedFiles } = await files.fetch(
      groups.flatMap((grp) => grp.targets.map((t) => ({ ...t, part: grp.part }))),
      () => true,
    );
    files.touched.forEach((sha) => touched.add(sha));
    for (const f of failedFiles) refused.push({ name: printable(f.target.name), role: f.target.role, code: f.error.code, message: f.error.message });
    if (
      collides(
        held,
        layout.fileSetId,
        new Set(changed),
        fetched.map((f) => ({ ...f.target, sha256: f.sha256 })),
      )
    )
      return undefined;
    for (const grp of groupTargets(fetched.map((f) => ({ ...f.target, sha256: f.sha256 }))).values()) blocks.push(targetsBlock(grp.role, grp.part, grp.targets));
  }

  const replaced = new Set(changed);
  const reused = layout.blocks.filter((b) => b.kind !== 'snapshot' && !(b.role !== null && replaced.has(b.role)));
  const t = trusted.timestamp.signed;
  const s = trusted.snapshot.signed;
  const allRefused = [...refusedTargets, ...refused].sort(byName);
  return {
    kind: 'walked',
    head: headBlock(input.timestamp),
    body: { blocks: [...reused, ...blocks] },
    fileSetKey: fileSetKey([...reused.map((b) => b.key), ...blocks.map((b) => b.key)]),
    roots: [],
    unused: unusedBlobs(touched, blocks),
    versions: { root: g.rootVersion, timestamp: t.version, snapshot: s.version, targets: g.targetsVersion },
    summary: {
      roles: roles.map((r) => {
        if (r.role === 'timestamp') return { role: r.role, version: t.version, expires: t.expires };
        if (r.role === 'snapshot') return { role: r.role, version: s.version, expires: s.expires };
        const now = newRoles.get(r.role);
        return now ? { role: r.role, ...now } : r;
      }),
      rootVersions: g.summary.rootVersions,
      ...(failedRoles.length ? { failedRoles } : {}),
      ...(allRefused.length ? { refusedTargets: allRefused } : {}),
    },
  };
}

/** The same entry of a snapshot's meta: version, and length and hashes when pinned. */
const sameMeta = (a: MetaFile, b: MetaFile): boolean => a.equals(b);

/** Delegations of the top-level targets whose ranges cannot overlap: succinct bins, or hash prefixes none of which starts another role's. */
function hashDisjoint(top: Metadata<Targets>): boolean {
  const d = top.signed.delegations;
  if (!d) return false;
  if (d.succinctRoles) return true;
  if (!d.roles) return false;
  const owner = new Map<string, string>();
  for (const role of Object.values(d.roles)) {
    if (role.paths || !role.pathHashPrefixes?.length) return false;
    for (const prefix of role.pathHashPrefixes) {
      const there = owner.get(prefix);
      if (there !== undefined && there !== role.name) return false;
      owner.set(prefix, role.name);
    }
  }
  for (const [prefix, role] of owner) {
    for (let n = 1; n < prefix.length; n++) {
      const shorter = owner.get(prefix.slice(0, n));
      if (shorter !== undefined && shorter !== role) return false;
    }
  }
  return true;
}

function delegates(top: Metadata<Targets>, role: string): boolean {
  const d = top.signed.delegations;
  return !!(d?.roles ? Object.hasOwn(d.roles, role) : d?.succinctRoles?.isDelegatedRole(role));
}

/** A changed leaf, fetched and verified as the top-level targets delegates it; undefined for anything the full walk must judge. */
async function loadLeaf(input: IncrementalInput, role: string, top: Metadata<Targets>): Promise<{ bytes: Buffer; metadata: Metadata<Targets> } | undefined> {
  const { trusted, options } = input;
  let bytes: Buffer;
  try {
    const meta = trusted.metaOf(role);
    const path = trusted.consistentSnapshot ? metadataPath(role, meta.version) : metadataPath(role);
    bytes = await options.downloader.get(path, meta.length ?? CLIENT_LIMITS.targetsMaxBytes, role);
  } catch (err) {
    if (err instanceof SyncError && !isTransportFailure(err)) return undefined;
    throw err;
  }
  input.fetchedRoles.set(role, bytes);
  try {
    const metadata = trusted.readTargets(role, bytes);
    trusted.checkTargets(role, metadata, { name: 'targets', metadata: top });
    return metadataPart(metadata) === 'leaf' ? { bytes, metadata } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The names the changed leaves now resolve, by TUF's search over the top-level targets and those
 * leaves (a search that would go to another leaf is about a name no changed leaf can hold).
 * Refusals go to `refused`; undefined if one is about a name already refused elsewhere (which
 * role a refusal is recorded under then depends on roles not loaded here).
 */
function resolveLeaves(top: Metadata<Targets>, leaves: Map<string, Metadata<Targets>>, refusedBefore: Set<string>, refused: TargetProblem[]): SignedTarget[] | undefined {
  const elsewhere = new SyncError('INTERNAL', 'not a changed leaf');
  const graph = (role: string, delegator: string): Reach => {
    if (role === 'targets') return { metadata: top };
    const leaf = delegator === 'targets' ? leaves.get(role) : undefined;
    return leaf ? { metadata: leaf } : { error: elsewhere };
  };
  const out: SignedTarget[] = [];
  for (const [role, md] of leaves) {
    for (const name of Object.keys(md.signed.targets).sort()) {
      const unsafe = unsafeTargetName(name);
      if (unsafe) {
        if (refusedBefore.has(printable(name))) return undefined;
        refused.push({ name: printable(name), role, code: 'TARGET_NAME_UNSAFE', message: `target name "${printable(name)}" is refused: ${unsafe}` });
        continue;
      }
      const resolution = searchTarget(name, graph);
      if (resolution.kind !== 'found' || resolution.role !== role) continue;
      const malformed = malformedHashes(resolution.info);
      if (malformed) {
        if (refusedBefore.has(printable(name))) return undefined;
        refused.push({ name: printable(name), role, code: 'MALFORMED_METADATA', message: `target ${name} in ${role}: ${malformed}` });
        continue;
      }
      out.push(signedTarget(name, role, resolution.info));
    }
  }
  return out;
}

/**
 * Whether the changed leaves' target files claim a path with other bytes than another target of
 * theirs, or than a file of the held body they do not replace. The full walk then refuses both.
 */
function collides(held: HeldGeneration, fileSetId: number, replaced: Set<string>, targets: { name: string; hashes: Record<string, string>; sha256: string }[]): boolean {
  const claimed = new Map<string, string>();
  for (const t of targets) {
    for (const p of targetFilePaths(t.name, t.hashes)) {
      const there = claimed.get(p);
      if (there !== undefined && there !== t.sha256) return true;
      claimed.set(p, t.sha256);
    }
  }
  for (const [p, sha] of claimed) {
    if (held.fileSetPath(fileSetId, p).some((row) => !(row.role !== null && replaced.has(row.role)) && row.sha256 !== sha)) return true;
  }
  return false;
}
