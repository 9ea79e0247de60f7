/**
 * The sync proper: the TUF client workflow over a Source, in the steps a client runs them, and
 * then further than one client goes: every delegated role, every target name.
 *
 *   1. root chain      from the newest root held (or the trust anchor), N+1.root.json until 403/404
 *   2. timestamp       (a same-version timestamp keeps the held one)
 *   3. snapshot        (the held one when the timestamp still names it)
 *   4. targets         the top-level role
 *   5. delegations     every delegated role, in search order, each checked against each delegator
 *   6. target files    every target name resolved by TUF's own search, its file checked against
 *                      every hash its role signed
 *
 * A failure in steps 1 to 4, or of the transport at any step, fails the run. A delegated role that
 * fails (expired, badly signed, missing, rolled back, an unsafe name, over a cap) fails alone: the
 * run commits the rest, keeps serving that role's last verified files, and records it. So does a
 * target name that is unsafe, malformed or collides, and a delegated role's target whose file fails.
 *
 * What the held generation already proves is not proved again (sync/reuse.ts): a timestamp that
 * is the held one ends the run after step 2; a new timestamp naming the held snapshot reuses
 * everything below it; a new snapshot that changed only hash-bin leaves walks only those bins.
 * Anything else walks every step, reusing held files (and whole held blocks) that match what is
 * signed now, and downloading the rest in parallel.
 *
 * Nothing is downloaded that the metadata verified so far does not name, and no name becomes a
 * path before it is checked (lib/layout.ts).
 */
import type { Metadata, Root, Snapshot, TargetFile, Targets } from '@tufjs/models';
import * as fs from 'node:fs';
import { lengthOrHashMismatch } from '../lib/hashes';
import { metadataPath, targetFilePaths, targetPath, unsafePathReason, unsafeRoleName, unsafeTargetName } from '../lib/layout';
import { ownValue } from '../lib/records';
import { fileSetKey, type BlockRecord, type NewBlock, type NewBlockFile, type RoleProblem, type RoleSummary, type TargetProblem } from '../store/store';
import { fileOf, filesBlock, groupTargets, headBlock, metadataBlock, signedTarget, snapshotBlock, targetsBlock, targetsBlockKey, unusedBlobs, type SignedTarget } from './blocks';
import { isTransportFailure, SyncError } from './errors';
import { HeldGeneration } from './held';
import { byName, malformedHashes, printable } from './refusals';
import { incrementalWalk, settledGeneration, timestampOnly } from './reuse';
import { TargetFiles } from './target-files';
import type { WalkOptions, WalkResult } from './walk-types';
import { CLIENT_LIMITS, delegatedRoles, parseRoot, parseTargets, searchTarget, TrustedSet, type Reach } from './tuf-client';

/** Run every step; throws a SyncError when the run fails as a whole. */
export async function walkRepository(options: WalkOptions): Promise<WalkResult> {
  const held = new HeldGeneration(options.store, options.repository.name);
  const { trusted, roots } = await updateRoots(options);
  const timestamp = await updateTimestamp(options, trusted, held);
  const settled = options.shortcuts === false ? undefined : settledGeneration(held, trusted, options);
  // The timestamp held, byte for byte, under the same root: nothing below it can have changed,
  // and nothing held has expired since. Nothing else is loaded, parsed or verified.
  if (settled && held.timestamp?.equals(timestamp)) return { kind: 'unchanged' };
  const snapshot = await updateSnapshot(options, trusted, held);
  if (settled && snapshot.held) {
    const reused = timestampOnly(settled, held, trusted, timestamp);
    if (reused) return reused;
  }
  const fetchedRoles = new Map<string, Buffer>();
  if (settled && snapshot.previous && !snapshot.held) {
    const walked = await incrementalWalk({ options, held, settled, trusted, timestamp, snapshot: snapshot.bytes, previous: snapshot.previous, fetchedRoles });
    if (walked) return walked;
  }
  const graph = new DelegationGraph(options, trusted, held, fetchedRoles);
  await graph.loadTopLevelTargets();
  await graph.walk();
  return fullAssembly(options, trusted, held, roots, timestamp, snapshot.bytes, graph);
}

// Step 1 ------------------------------------------------------------------------------------

function readAnchor(file: string): { bytes: Buffer; root: Metadata<Root> } {
  try {
    const bytes = fs.readFileSync(file);
    return { bytes, root: parseRoot(bytes) };
  } catch (err) {
    throw new SyncError('TRUST_ANCHOR_INVALID', `trust anchor ${file} is not a TUF root: ${err instanceof Error ? err.message : String(err)}`, 'root', { cause: err });
  }
}

async function updateRoots(options: WalkOptions): Promise<{ trusted: TrustedSet; roots: Map<number, Buffer> }> {
  const { store, repository, downloader } = options;
  const anchor = readAnchor(repository.trustAnchor);
  const anchorVersion = anchor.root.signed.version;

  // Root history held, verified by earlier runs from this anchor.
  const roots = new Map<number, Buffer>();
  for (const r of store.roots(repository.name)) {
    const bytes = store.blob(r.sha256);
    if (bytes) roots.set(r.version, bytes);
  }
  const heldAnchor = roots.get(anchorVersion);
  if (heldAnchor && !parseRoot(heldAnchor).signed.equals(anchor.root.signed)) {
    throw new SyncError(
      'TRUST_ANCHOR_INVALID',
      `trust anchor ${repository.trustAnchor} (root v${anchorVersion}) differs from the root v${anchorVersion} this mirror verified before: a different repository?`,
      'root',
    );
  }
  if (!heldAnchor) roots.set(anchorVersion, anchor.bytes);
  const start = Math.max(anchorVersion, ...roots.keys());
  let trusted: TrustedSet;
  try {
    trusted = new TrustedSet(roots.get(start) ?? anchor.bytes, options.referenceTime);
  } catch (err) {
    throw new SyncError('TRUST_ANCHOR_INVALID', `root v${start} is not signed by its own keys: ${err instanceof Error ? err.message : String(err)}`, 'root', { cause: err });
  }

  for (let version = start + 1; version <= start + CLIENT_LIMITS.maxRootRotations; version++) {
    let bytes: Buffer;
    try {
      bytes = await downloader.get(metadataPath('root', version), CLIENT_LIMITS.rootMaxBytes, 'root');
    } catch (err) {
      // A 403/404 for the next root is how TUF learns it holds the newest one.
      if (err instanceof SyncError && err.code === 'UPSTREAM_HTTP_ERROR' && (err.status === 403 || err.status === 404)) break;
      throw err;
    }
    trusted.updateRoot(bytes);
    roots.set(version, bytes);
  }
  trusted.checkFinalRoot();
  for (const v of roots.keys()) if (v > trusted.root.signed.version) roots.delete(v);
  return { trusted, roots };
}

// Steps 2 and 3 -----------------------------------------------------------------------------

async function updateTimestamp(options: WalkOptions, trusted: TrustedSet, held: HeldGeneration): Promise<Buffer> {
  const heldBytes = held.timestamp;
  if (heldBytes) trusted.useHeldTimestamp(heldBytes);
  const bytes = await options.downloader.get(metadataPath('timestamp'), CLIENT_LIMITS.timestampMaxBytes, 'timestamp');
  const outcome = trusted.updateTimestamp(bytes);
  return outcome === 'same-version' && heldBytes ? heldBytes : bytes;
}

/**
 * The final snapshot's bytes. `held`: they are the held ones (the timestamp still names them);
 * `previous`: the held snapshot a new one replaced (what it said of each role).
 */
async function updateSnapshot(options: WalkOptions, trusted: TrustedSet, held: HeldGeneration): Promise<{ bytes: Buffer; held: boolean; previous?: Metadata<Snapshot> }> {
  const heldBytes = held.file(metadataPath('snapshot'));
  if (heldBytes && trusted.useHeldSnapshot(heldBytes)) return { bytes: heldBytes, held: true };
  const previous = heldBytes ? trusted.heldSnapshot : undefined;
  const meta = trusted.timestamp.signed.snapshotMeta;
  const path = trusted.consistentSnapshot ? metadataPath('snapshot', meta.version) : metadataPath('snapshot');
  const bytes = await options.downloader.get(path, meta.length ?? CLIENT_LIMITS.snapshotMaxBytes, 'snapshot');
  trusted.updateSnapshot(bytes);
  return { bytes, held: false, previous };
}

// Steps 4 and 5 -----------------------------------------------------------------------------

/** One targets role as the walk found it. */
type RoleNode = {
  name: string;
  /** The checked bytes and their metadata, when they passed the checks that do not depend on the delegator. */
  content?: { bytes: Buffer; metadata: Metadata<Targets> };
  /** Why there is no content: not listed, not fetched, not matching the snapshot, not metadata, an unsafe name. */
  failure?: SyncError;
  /** Per delegator: null when the role verifies as delegated by it, else why not. */
  edges: Map<string, SyncError | null>;
  /** Its own delegations were walked (it verified under some delegator). */
  walked: boolean;
  /** Why (some of) its own delegations are not mirrored: a cap. */
  delegationsRefused?: SyncError;
};

type Delegator = { name: string; metadata: Metadata<Root> | Metadata<Targets> };

/**
 * Every targets role reachable from the top-level one, each checked as delegated by each role
 * that delegates to it (a role delegated twice may verify under one delegator's keys and not the
 * other's: a client's search then succeeds through one and fails through the other, and so must
 * the mirror's). Roles are loaded once, in the preorder a client searches them; the files of the
 * next few siblings are downloaded meanwhile.
 */
class DelegationGraph {
  readonly nodes = new Map<string, RoleNode>();
  /** Roles that verified, in search order (the top-level targets first). */
  readonly order: string[] = [];
  private readonly prefetched = new Map<string, Promise<{ bytes: Buffer } | { error: unknown }>>();

  constructor(
    private readonly options: WalkOptions,
    private readonly trusted: TrustedSet,
    private readonly held: HeldGeneration,
    /** Role files a shortcut already downloaded this run (not asked for twice). */
    private readonly fetchedRoles: Map<string, Buffer>,
  ) {}

  /** Step 4: the top-level targets role must verify, else the run fails. */
  async loadTopLevelTargets(): Promise<void> {
    const node = await this.load('targets', { name: 'root', metadata: this.trusted.root });
    const failure = node.failure ?? node.edges.get('root');
    if (failure) throw failure;
    node.walked = true;
    this.order.push('targets');
  }

  /** Step 5: every delegated role, depth first in delegation order. */
  async walk(): Promise<void> {
    await this.visitChildren(this.metadataOf('targets'));
  }

  metadataOf(role: string): { name: string; metadata: Metadata<Targets> } {
    const content = this.nodes.get(role)?.content;
    if (!content) throw new SyncError('INTERNAL', `no verified metadata for ${role}`, role);
    return { name: role, metadata: content.metadata };
  }

  private attempted = 0;

  private async visitChildren(parent: { name: string; metadata: Metadata<Targets> }): Promise<void> {
    const parentNode = this.nodes.get(parent.name);
    if (!parentNode) return;
    const listed = delegatedRoles(parent.name, parent.metadata, this.options.maxDelegatedRoles);
    if ('refused' in listed) {
      parentNode.delegationsRefused = listed.refused;
      return;
    }
    for (let i = 0; i < listed.roles.length; i++) {
      const child = listed.roles[i];
      // The next siblings within the cap: download them while this one is checked.
      const ahead = Math.min(listed.roles.length, i + this.options.downloadConcurrency, i + this.options.maxDelegatedRoles - this.attempted);
      for (let j = i; j < ahead; j++) this.prefetch(listed.roles[j]);
      let node = this.nodes.get(child);
      if (!node) {
        if (this.attempted >= this.options.maxDelegatedRoles) {
          parentNode.delegationsRefused = new SyncError(
            'TOO_MANY_DELEGATIONS',
            `${parent.name} delegates to ${printable(child)} and maybe more roles past sync.maxDelegatedRoles (${this.options.maxDelegatedRoles} delegated roles in all): those are not mirrored`,
            parent.name,
          );
          return;
        }
        this.attempted++;
        node = await this.load(child, parent);
      } else if (!node.edges.has(parent.name)) {
        node.edges.set(parent.name, node.content ? this.check(child, node.content.metadata, parent) : (node.failure ?? null));
      }
      if (node.content && node.edges.get(parent.name) === null && !node.walked) {
        node.walked = true;
        this.order.push(child);
        await this.visitChildren({ name: child, metadata: node.content.metadata });
      }
    }
  }

  private heldVersions?: Map<string, number>;

  /** The version of a role the held generation serves. */
  private heldVersion(role: string): number | undefined {
    this.heldVersions ??= new Map(this.held.generation?.summary.roles.map((r) => [r.role, r.version]));
    return this.heldVersions.get(role);
  }

  /** The version the snapshot names for a role (undefined: not listed). */
  private namedVersion(role: string): number | undefined {
    return ownValue(this.trusted.snapshot.signed.meta, `${role}.json`)?.version;
  }

  /** Where a role's file comes from when the held copy is not the version the snapshot names. */
  private source(role: string): { path: string; maxBytes: number } | undefined {
    let meta;
    try {
      meta = this.trusted.metaOf(role);
    } catch {
      return undefined;
    }
    const path = this.trusted.consistentSnapshot ? metadataPath(role, meta.version) : metadataPath(role);
    return { path, maxBytes: meta.length ?? CLIENT_LIMITS.targetsMaxBytes };
  }

  /** Start downloading a role's file if it will be needed: not loaded, not held at the version named, a safe name. */
  private prefetch(role: string): void {
    if (this.nodes.has(role) || this.prefetched.has(role) || this.fetchedRoles.has(role) || unsafeRoleName(role)) return;
    const source = this.source(role);
    if (!source) return;
    if (this.heldVersion(role) === this.namedVersion(role)) return;
    this.prefetched.set(
      role,
      this.options.downloader.get(source.path, source.maxBytes, role).then(
        (bytes) => ({ bytes }),
        (error: unknown) => ({ error }),
      ),
    );
  }

  private async download(role: string): Promise<Buffer> {
    const fetched = this.fetchedRoles.get(role);
    if (fetched) return fetched;
    const prefetched = this.prefetched.get(role);
    if (prefetched) {
      const outcome = await prefetched;
      if ('error' in outcome) throw outcome.error;
      return outcome.bytes;
    }
    const source = this.source(role);
    // Not listed: metaOf says so, with its code.
    if (!source) this.trusted.metaOf(role);
    if (!source) throw new SyncError('INTERNAL', `no snapshot entry for ${role}`, role);
    return this.options.downloader.get(source.path, source.maxBytes, role);
  }

  /**
   * A role's metadata as `delegator` sees it. The copy held from the last run is used when it
   * passes every check (the snapshot still names its version); otherwise it is downloaded.
   */
  private async load(role: string, delegator: Delegator): Promise<RoleNode> {
    const node: RoleNode = { name: role, edges: new Map(), walked: false };
    this.nodes.set(role, node);
    const unsafe = role === 'targets' ? undefined : unsafeRoleName(role);
    if (unsafe) {
      node.failure = new SyncError('ROLE_NAME_UNSAFE', `role name "${printable(role)}" is refused: ${unsafe}`, role);
      return node;
    }
    // The held copy, unless the snapshot names another version (then it is not even read).
    const heldBytes = this.heldVersion(role) === this.namedVersion(role) ? this.held.file(metadataPath(role)) : undefined;
    if (heldBytes) {
      try {
        const metadata = this.trusted.readTargets(role, heldBytes);
        if (this.check(role, metadata, delegator) === null) {
          node.content = { bytes: heldBytes, metadata };
          node.edges.set(delegator.name, null);
          return node;
        }
      } catch {
        // Not the version the snapshot names any more, or no longer valid: fetch it.
      }
    }
    try {
      const bytes = await this.download(role);
      node.content = { bytes, metadata: this.trusted.readTargets(role, bytes) };
    } catch (err) {
      if (!(err instanceof SyncError)) throw err;
      if (isTransportFailure(err)) throw err;
      node.failure = err;
      return node;
    }
    node.edges.set(delegator.name, this.check(role, node.content.metadata, delegator));
    return node;
  }

  private check(role: string, metadata: Metadata<Targets>, delegator: Delegator): SyncError | null {
    try {
      this.trusted.checkTargets(role, metadata, delegator);
      return null;
    } catch (err) {
      if (err instanceof SyncError) return err;
      throw err;
    }
  }

  /** Where `role` stands for a search that reaches it from `delegator` (see searchTarget). */
  reach(role: string, delegator: string): Reach {
    const node = this.nodes.get(role);
    const edge = node?.edges.get(delegator);
    if (node?.content && edge === null) return { metadata: node.content.metadata };
    const error = node?.failure ?? edge ?? this.nodes.get(delegator)?.delegationsRefused ?? new SyncError('INTERNAL', `${delegator} → ${role} was not examined`, role);
    return { error };
  }

  /** Roles with no verified delegation, and roles whose delegations were refused. */
  problems(): { role: string; error: SyncError }[] {
    const out: { role: string; error: SyncError }[] = [];
    for (const node of this.nodes.values()) {
      if (!node.walked) {
        const error = node.failure ?? [...node.edges.values()].find((e) => e !== null);
        if (error) out.push({ role: node.name, error });
      }
      if (node.delegationsRefused) out.push({ role: node.name, error: node.delegationsRefused });
    }
    return out;
  }
}

// Step 6 and the generation ------------------------------------------------------------------

type Candidate = SignedTarget & { part: string };
type Kept = Candidate & { sha256?: string; block?: BlockRecord };

type Group = { role: string; part: string; targets: Kept[]; block: BlockRecord | undefined };
type Refuse = (name: string, role: string, error: SyncError) => void;
type MetadataFiles = { blocks: NewBlock[]; paths: Map<string, string>; roles: RoleSummary[]; rootVersions: number[]; rootFiles: NewBlockFile[] };

/**
 * Resolve every target name a verified role lists, as a client would; fetch (or reuse) the file
 * of each; cut the result into blocks. A name is checked before it becomes a path; a bucket of
 * targets that a held block already holds, with the same signed information, is that block.
 */
async function fullAssembly(
  options: WalkOptions,
  trusted: TrustedSet,
  held: HeldGeneration,
  roots: Map<number, Buffer>,
  timestampBytes: Buffer,
  snapshotBytes: Buffer,
  graph: DelegationGraph,
): Promise<WalkResult> {
  const refused: TargetProblem[] = [];
  const refuse: Refuse = (name, role, error) => {
    refused.push({ name: printable(name), role, code: error.code, message: error.message });
  };
  const candidates = resolvedCandidates(graph, refuse);
  const { groups, files, failedTargets } = await fetchTargetGroups(options, trusted, held, candidates, refuse);
  const metadata = metadataBlocksOf(trusted, roots, snapshotBytes, graph);
  const kept = groups.flatMap((g) => g.targets).filter((t) => !failedTargets.has(t));
  const { colliding, targetBlocks } = collisionFreeBlocks(options, held, groups, kept, failedTargets, metadata.paths, refused);
  const { carried, failedRoles } = carriedRoles(graph, held, metadata, kept, colliding);

  const blocks = [...metadata.blocks, ...targetBlocks, ...carried];
  const newestRoot = trusted.root.signed.version;
  return {
    kind: 'walked',
    head: headBlock(timestampBytes),
    body: { blocks },
    fileSetKey: fileSetKey(blocks.map((b) => b.key)),
    unused: unusedBlobs(
      files.touched,
      blocks.filter((b): b is NewBlock => !('id' in b)),
    ),
    roots: metadata.rootVersions.map((version, i) => ({ version, sha256: metadata.rootFiles[i].sha256, expires: parseRoot(rootBytes(roots, version)).signed.expires })),
    versions: { root: newestRoot, timestamp: trusted.timestamp.signed.version, snapshot: trusted.snapshot.signed.version, targets: graph.metadataOf('targets').metadata.signed.version },
    summary: {
      roles: metadata.roles,
      rootVersions: metadata.rootVersions,
      ...(failedRoles.length ? { failedRoles } : {}),
      ...(refused.length ? { refusedTargets: refused.sort(byName) } : {}),
    },
  };
}

/** Every name a verified role lists, as a client's search resolves it; unsafe names and malformed hashes refused. */
function resolvedCandidates(graph: DelegationGraph, refuse: Refuse): Kept[] {
  const listedBy = new Map<string, string>();
  for (const role of graph.order) {
    for (const name of Object.keys(graph.metadataOf(role).metadata.signed.targets)) if (!listedBy.has(name)) listedBy.set(name, role);
  }
  const candidates: Kept[] = [];
  for (const name of [...listedBy.keys()].sort()) {
    const firstRole = listedBy.get(name) ?? 'targets';
    const unsafe = unsafeTargetName(name);
    if (unsafe) {
      refuse(name, firstRole, new SyncError('TARGET_NAME_UNSAFE', `target name "${printable(name)}" is refused: ${unsafe}`, `targets/${printable(name)}`));
      continue;
    }
    const resolution = searchTarget(name, (role, delegator) => graph.reach(role, delegator));
    if (resolution.kind !== 'found') continue; // absent, or a client's search fails at a role already recorded as failed
    const { role, info } = resolution;
    const malformed = malformedHashes(info);
    if (malformed) {
      refuse(name, role, new SyncError('MALFORMED_METADATA', `target ${name} in ${role}: ${malformed}`, `targets/${name}`));
      continue;
    }
    candidates.push(Object.assign(signedTarget(name, role, info), { part: '' }));
  }
  return candidates;
}

/** The candidates in buckets: those already held as they are now signed are reused whole; the rest are fetched. */
async function fetchTargetGroups(
  options: WalkOptions,
  trusted: TrustedSet,
  held: HeldGeneration,
  candidates: Kept[],
  refuse: Refuse,
): Promise<{ groups: Group[]; files: TargetFiles; failedTargets: Set<Kept> }> {
  const groups = [...groupTargets(candidates).values()].map((g) => {
    const block = options.shortcuts === false ? undefined : options.store.blockByKey(options.repository.name, targetsBlockKey(g.role, g.part, g.targets));
    if (block) for (const t of g.targets) t.block = block;
    return { ...g, block };
  });
  const files = new TargetFiles({ ...options, held, consistentSnapshot: trusted.consistentSnapshot, concurrency: options.downloadConcurrency });
  const wanted = groups.filter((g) => !g.block).flatMap((g) => g.targets);
  // A top-level target's file fails the run, as it always has; a delegated role's fails alone.
  const { fetched, failed } = await files.fetch(wanted, (t) => t.role !== 'targets');
  for (const f of fetched) f.target.sha256 = f.sha256;
  const failedTargets = new Set<Kept>();
  for (const f of failed) {
    failedTargets.add(f.target);
    refuse(f.target.name, f.target.role, f.error);
  }
  return { groups, files, failedTargets };
}

/** Metadata files, each at its own path: role names are checked, so a clash is a bug (fail loudly). */
function metadataBlocksOf(trusted: TrustedSet, roots: Map<number, Buffer>, snapshotBytes: Buffer, graph: DelegationGraph): MetadataFiles {
  const blocks: NewBlock[] = [];
  const paths = new Map<string, string>();
  const addMetadata = (block: NewBlock): void => {
    for (const f of block.files) {
      const there = paths.get(f.path);
      if (there !== undefined && there !== f.sha256) throw new SyncError('PATH_COLLISION', `two different metadata files at ${f.path}`, f.path);
      paths.set(f.path, f.sha256);
    }
    blocks.push(block);
  };
  const rootVersions = [...roots.keys()].sort((a, b) => a - b);
  const rootFiles = rootVersions.map((v) => fileOf(metadataPath('root', v), rootBytes(roots, v)));
  const newestRoot = trusted.root.signed.version;
  addMetadata(filesBlock('roots', [...rootFiles, { ...fileOf(metadataPath('root'), rootBytes(roots, newestRoot)) }]));
  addMetadata(snapshotBlock(trusted.snapshot.signed.version, snapshotBytes));
  const roles: RoleSummary[] = [
    { role: 'root', version: newestRoot, expires: trusted.root.signed.expires },
    { role: 'timestamp', version: trusted.timestamp.signed.version, expires: trusted.timestamp.signed.expires },
    { role: 'snapshot', version: trusted.snapshot.signed.version, expires: trusted.snapshot.signed.expires },
  ];
  for (const role of graph.order) {
    const node = graph.nodes.get(role);
    if (!node?.content) continue;
    const { version, expires } = node.content.metadata.signed;
    roles.push({ role, version, expires });
    addMetadata(metadataBlock(role, node.content.metadata, node.content.bytes));
  }
  return { blocks, paths, roles, rootVersions, rootFiles };
}

/**
 * Target files, each claimed by the target it belongs to; two targets claiming one path with
 * different bytes are both refused (PATH_COLLISION), never first come, first served. Targets of
 * held blocks that the served generation holds too did not collide there, nor can they now: only
 * the paths of the other targets are looked at (each against the held file set), unless a held
 * block comes from elsewhere (an older generation), when every path is.
 */
function collisionFreeBlocks(
  options: WalkOptions,
  held: HeldGeneration,
  groups: Group[],
  kept: Kept[],
  failedTargets: Set<Kept>,
  metadataPaths: Map<string, string>,
  refused: TargetProblem[],
): { colliding: Set<Kept>; targetBlocks: (NewBlock | BlockRecord)[] } {
  const heldRows = new Map<number, Map<string, string>>();
  const shaOf = (t: Kept): string => {
    // Signed metadata may list no sha256 (only sha512, say).
    const known = t.sha256 ?? ownValue(t.hashes, 'sha256');
    if (known !== undefined) return known;
    if (!t.block) throw new SyncError('INTERNAL', `no file for target ${t.name}`, `targets/${t.name}`);
    let rows = heldRows.get(t.block.id);
    if (!rows) heldRows.set(t.block.id, (rows = new Map(options.store.blockTargets(t.block.id).map((r) => [r.name, r.sha256]))));
    const sha = rows.get(t.name);
    if (sha === undefined) throw new SyncError('INTERNAL', `held block ${t.block.id} lacks target ${t.name}`, `targets/${t.name}`);
    return sha;
  };
  const body = held.layout();
  const heldBlocks = new Set(body?.blocks.map((b) => b.id));
  const reusedGroups = new Map(groups.flatMap((g) => (g.block ? [[g.block.id, g.targets] as const] : [])));
  const narrow = body?.fileSetId != null && [...reusedGroups.keys()].every((id) => heldBlocks.has(id));
  const claims = new Map<string, Kept[]>();
  for (const t of narrow ? kept.filter((k) => !k.block) : kept) {
    for (const p of targetFilePaths(t.name, t.hashes)) {
      const list = claims.get(p);
      if (list) list.push(t);
      else claims.set(p, [t]);
    }
  }
  const claimsOf = (p: string): Kept[] => {
    const own = claims.get(p) ?? [];
    if (!narrow || body.fileSetId == null) return own;
    const reused = options.store
      .fileSetPath(body.fileSetId, p)
      .flatMap((row) => reusedGroups.get(row.blockId) ?? [])
      .filter((t) => !failedTargets.has(t) && targetFilePaths(t.name, t.hashes).includes(p));
    return reused.length ? [...own, ...reused] : own;
  };
  const colliding = new Set<Kept>();
  for (const p of claims.keys()) {
    const claimants = claimsOf(p);
    const clash = metadataPaths.has(p) || (claimants.length > 1 && claimants.some((t) => shaOf(t) !== shaOf(claimants[0])));
    if (clash) claimants.forEach((t) => colliding.add(t));
  }
  for (const t of colliding) {
    const others = targetFilePaths(t.name, t.hashes).flatMap((p) =>
      claimsOf(p)
        .filter((o) => o !== t && colliding.has(o))
        .map((o) => o.name),
    );
    refused.push({
      name: t.name,
      role: t.role,
      code: 'PATH_COLLISION',
      message: `target ${t.name} (${t.role}) and ${[...new Set(others)].join(', ') || 'a metadata file'} claim the same path with different bytes: none of them is mirrored`,
    });
  }
  const targetBlocks: (NewBlock | BlockRecord)[] = [];
  for (const g of groups) {
    const survivors = g.targets.filter((t) => !failedTargets.has(t) && !colliding.has(t));
    if (g.block && survivors.length === g.targets.length) targetBlocks.push(g.block);
    else if (survivors.length)
      targetBlocks.push(
        targetsBlock(
          g.role,
          g.part,
          survivors.map((t) => ({ ...t, sha256: shaOf(t) })),
        ),
      );
  }
  return { colliding, targetBlocks };
}

/** Failed roles: recorded, and their last verified files kept where nothing new claims the path (their summary joins `metadata.roles`). */
function carriedRoles(graph: DelegationGraph, held: HeldGeneration, metadata: MetadataFiles, kept: Kept[], colliding: Set<Kept>): { carried: NewBlock[]; failedRoles: RoleProblem[] } {
  const { roles } = metadata;
  let taken: Set<string> | undefined;
  const carried: NewBlock[] = [];
  const failedRoles: RoleProblem[] = [];
  for (const { role, error } of graph.problems()) {
    const served = graph.nodes.get(role)?.walked ? undefined : carriedFiles(held, role);
    if (served) {
      if (!taken) {
        taken = new Set(metadata.paths.keys());
        for (const t of kept) if (!colliding.has(t)) for (const p of targetFilePaths(t.name, t.hashes)) taken.add(p);
      }
      roles.push(served.summary);
      const files = served.files.filter((f) => !taken?.has(f.path) && !unsafePathReason(f.path));
      files.forEach((f) => taken?.add(f.path));
      if (files.length) carried.push(filesBlock('carried', files, role));
    }
    const servedVersion = roles.find((r) => r.role === role)?.version ?? null;
    failedRoles.push({ role: printable(role), code: error.code, message: error.message, servedVersion });
  }
  return { carried, failedRoles };
}

function rootBytes(roots: Map<number, Buffer>, version: number): Buffer {
  const bytes = roots.get(version);
  if (!bytes) throw new SyncError('INTERNAL', `verified root v${version} was not recorded`, 'root');
  return bytes;
}

/**
 * A failed role's last verified files, from the generation served now: its metadata and the files
 * of the targets it listed that still match what it signed for them. Served, never trusted: no
 * target resolves through a failed role.
 */
function carriedFiles(held: HeldGeneration, role: string): { summary: RoleSummary; files: NewBlockFile[] } | undefined {
  const summary = held.generation?.summary.roles.find((r) => r.role === role);
  if (!summary || unsafeRoleName(role)) return undefined;
  const files: NewBlockFile[] = [];
  for (const p of [metadataPath(role, summary.version), metadataPath(role)]) {
    const bytes = held.file(p);
    if (bytes) files.push(fileOf(p, bytes));
  }
  const metadataBytes = files[0]?.bytes;
  if (!metadataBytes) return undefined;
  const kept = { summary: { role, version: summary.version, expires: summary.expires }, files };
  let listed: Record<string, TargetFile>;
  try {
    listed = parseTargets(metadataBytes, role).signed.targets;
  } catch {
    return kept;
  }
  for (const [name, info] of Object.entries(listed)) {
    if (unsafeTargetName(name) || malformedHashes(info)) continue;
    for (const p of [...Object.values(info.hashes).map((h) => targetPath(name, h)), targetPath(name)]) {
      const bytes = held.file(p);
      if (bytes && !lengthOrHashMismatch(bytes, info)) files.push(fileOf(p, bytes));
    }
  }
  return kept;
}
