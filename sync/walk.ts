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
 * Nothing is downloaded that the metadata verified so far does not name, and no name becomes a
 * path before it is checked (lib/layout.ts).
 */
import type { Metadata, Root, TargetFile, Targets } from '@tufjs/models';
import * as fs from 'node:fs';
import { lengthOrHashMismatch } from '../lib/hashes';
import { metadataPath, targetPath, unsafePathReason, unsafeRoleName, unsafeTargetName } from '../lib/layout';
import type { GenerationRecord, NewFile, NewGeneration, NewResolvedTarget, RoleProblem, RoleSummary, Store, TargetProblem } from '../store/store';
import { isTransportFailure, SyncError } from './errors';
import type { Downloader } from './fetcher';
import { CLIENT_LIMITS, delegatedRoles, parseRoot, parseTargets, searchTarget, TrustedSet, type Reach } from './tuf-client';

export type WalkOptions = {
  store: Store;
  repository: { name: string; trustAnchor: string };
  downloader: Downloader;
  /** Expiry is judged at this time (the earliest representable date: nothing is expired). */
  referenceTime: Date;
  maxTargetBytes: number;
  maxDelegatedRoles: number;
};

export type WalkResult = Omit<NewGeneration, 'summary'> & {
  summary: Omit<NewGeneration['summary'], 'expiredMetadataAccepted'>;
};

type Held = {
  generation?: GenerationRecord;
  files: Map<string, string>;
  file(path: string): Buffer | undefined;
};

function heldState(store: Store, repository: string): Held {
  const generation = store.currentGeneration(repository);
  const files = generation ? store.generationFiles(generation.id) : new Map<string, string>();
  return {
    generation,
    files,
    file: (p) => {
      const sha = files.get(p);
      return sha === undefined ? undefined : store.blob(sha);
    },
  };
}

/** Run every step; throws a SyncError when the run fails as a whole. */
export async function walkRepository(options: WalkOptions): Promise<WalkResult> {
  const held = heldState(options.store, options.repository.name);
  const { trusted, roots } = await updateRoots(options);
  const timestamp = await updateTimestamp(options, trusted, held);
  // #18: a timestamp byte-identical to the held one could end the run here as unchanged.
  const snapshot = await updateSnapshot(options, trusted, held);
  const graph = new DelegationGraph(options, trusted, held);
  await graph.loadTopLevelTargets();
  await graph.walk();
  const targets = await resolveAndFetchTargets(options, trusted, graph, held);
  return assemble(trusted, held, roots, timestamp, snapshot, graph, targets);
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

async function updateTimestamp(options: WalkOptions, trusted: TrustedSet, held: Held): Promise<Buffer> {
  const heldBytes = held.file(metadataPath('timestamp'));
  if (heldBytes) trusted.useHeldTimestamp(heldBytes);
  const bytes = await options.downloader.get(metadataPath('timestamp'), CLIENT_LIMITS.timestampMaxBytes, 'timestamp');
  const outcome = trusted.updateTimestamp(bytes);
  return outcome === 'same-version' && heldBytes ? heldBytes : bytes;
}

async function updateSnapshot(options: WalkOptions, trusted: TrustedSet, held: Held): Promise<Buffer> {
  const heldBytes = held.file(metadataPath('snapshot'));
  if (heldBytes && trusted.useHeldSnapshot(heldBytes)) return heldBytes;
  const meta = trusted.timestamp.signed.snapshotMeta;
  const path = trusted.consistentSnapshot ? metadataPath('snapshot', meta.version) : metadataPath('snapshot');
  const bytes = await options.downloader.get(path, meta.length ?? CLIENT_LIMITS.snapshotMaxBytes, 'snapshot');
  trusted.updateSnapshot(bytes);
  return bytes;
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
 * the mirror's). Roles are loaded once, in the preorder a client searches them.
 */
class DelegationGraph {
  readonly nodes = new Map<string, RoleNode>();
  /** Roles that verified, in search order (the top-level targets first). */
  readonly order: string[] = [];

  constructor(
    private readonly options: WalkOptions,
    private readonly trusted: TrustedSet,
    private readonly held: Held,
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
    for (const child of listed.roles) {
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
    const heldBytes = this.held.file(metadataPath(role));
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
      const meta = this.trusted.metaOf(role);
      const path = this.trusted.consistentSnapshot ? metadataPath(role, meta.version) : metadataPath(role);
      const bytes = await this.options.downloader.get(path, meta.length ?? CLIENT_LIMITS.targetsMaxBytes, role);
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
    const error =
      node?.failure ??
      edge ??
      this.nodes.get(delegator)?.delegationsRefused ??
      new SyncError('INTERNAL', `${delegator} → ${role} was not examined`, role);
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

// Step 6 ------------------------------------------------------------------------------------

type FetchedTarget = { name: string; role: string; info: TargetFile; bytes: Buffer };

/** Hash values become file names: they must be what a digest looks like, and there must be one. */
function malformedHashes(info: TargetFile): string | undefined {
  const values = Object.values(info.hashes);
  if (values.length === 0) return 'it lists no hash';
  if (values.some((h) => !/^[0-9a-f]{2,128}$/.test(h))) return 'a hash is not lowercase hex';
  return undefined;
}

/**
 * Resolve every target name a verified role lists, as a client would, and fetch (or reuse) the
 * file of each. A name is checked before it becomes a path; a file is reused only if it matches
 * the length and every hash signed for it.
 */
async function resolveAndFetchTargets(
  options: WalkOptions,
  trusted: TrustedSet,
  graph: DelegationGraph,
  held: Held,
): Promise<{ fetched: FetchedTarget[]; refused: TargetProblem[] }> {
  const listedBy = new Map<string, string>();
  for (const role of graph.order) {
    for (const name of Object.keys(graph.metadataOf(role).metadata.signed.targets)) if (!listedBy.has(name)) listedBy.set(name, role);
  }
  const refused: TargetProblem[] = [];
  const refuse = (name: string, role: string, error: SyncError): void => {
    refused.push({ name: printable(name), role, code: error.code, message: error.message });
  };
  const fetched: FetchedTarget[] = [];
  for (const [name, firstRole] of [...listedBy].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
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
    try {
      fetched.push({ name, role, info, bytes: await targetBytes(options, trusted, held, info) });
    } catch (err) {
      // A top-level target's file fails the run, as it always has; a delegated role's fails alone.
      if (!(err instanceof SyncError) || isTransportFailure(err) || role === 'targets') throw err;
      refuse(name, role, err);
    }
  }
  return { fetched, refused };
}

async function targetBytes(options: WalkOptions, trusted: TrustedSet, held: Held, info: TargetFile): Promise<Buffer> {
  const role = `targets/${info.path}`;
  // Held bytes (content addressed by sha256, or the file of the current generation under any of
  // the signed hashes) are reused only if they match the length and EVERY signed hash.
  const candidates = [info.hashes.sha256, ...Object.values(info.hashes).map((h) => held.files.get(targetPath(info.path, h)))];
  for (const sha of new Set(candidates)) {
    const bytes = sha === undefined ? undefined : options.store.blob(sha);
    if (bytes && !lengthOrHashMismatch(bytes, info)) return bytes;
  }
  if (info.length > options.maxTargetBytes) throw new SyncError('RESPONSE_TOO_LARGE', `${info.path} is ${info.length} bytes, over the ${options.maxTargetBytes} allowed`, role);
  // tuf-js names the file after the first listed hash; every copy is checked against all of them.
  const path = trusted.consistentSnapshot ? targetPath(info.path, Object.values(info.hashes)[0]) : targetPath(info.path);
  const bytes = await options.downloader.get(path, info.length, role);
  const mismatch = lengthOrHashMismatch(bytes, info);
  if (mismatch) throw new SyncError('LENGTH_OR_HASH_MISMATCH', `${path}: ${mismatch}`, role);
  return bytes;
}

// Assembly ----------------------------------------------------------------------------------

/**
 * A failed role's last verified files, from the generation served now: its metadata and the files
 * of the targets it listed that still match what it signed for them. Served, never trusted: no
 * target resolves through a failed role.
 */
function carriedFiles(held: Held, role: string): { summary: RoleSummary; files: NewFile[] } | undefined {
  const summary = held.generation?.summary.roles.find((r) => r.role === role);
  if (!summary || unsafeRoleName(role)) return undefined;
  const files: NewFile[] = [];
  for (const p of [metadataPath(role, summary.version), metadataPath(role)]) {
    const bytes = held.file(p);
    if (bytes) files.push({ path: p, bytes });
  }
  const metadataBytes = files[0]?.bytes;
  if (!metadataBytes) return undefined;
  let listed: Record<string, TargetFile>;
  try {
    listed = parseTargets(metadataBytes, role).signed.targets;
  } catch {
    return { summary, files };
  }
  for (const [name, info] of Object.entries(listed)) {
    if (unsafeTargetName(name) || malformedHashes(info)) continue;
    for (const p of [...Object.values(info.hashes).map((h) => targetPath(name, h)), targetPath(name)]) {
      const bytes = held.file(p);
      if (bytes && !lengthOrHashMismatch(bytes, info)) files.push({ path: p, bytes });
    }
  }
  return { summary: { role, version: summary.version, expires: summary.expires }, files };
}

function assemble(
  trusted: TrustedSet,
  held: Held,
  roots: Map<number, Buffer>,
  timestampBytes: Buffer,
  snapshotBytes: Buffer,
  graph: DelegationGraph,
  targets: { fetched: FetchedTarget[]; refused: TargetProblem[] },
): WalkResult {
  const newestRoot = trusted.root.signed.version;
  const rootVersions = [...roots.keys()].sort((a, b) => a - b);
  const rootBytes = (version: number): Buffer => {
    const bytes = roots.get(version);
    if (!bytes) throw new SyncError('INTERNAL', `verified root v${version} was not recorded`, 'root');
    return bytes;
  };

  // Metadata: never two files at one path (role names are checked), so a clash is a bug: fail loudly.
  const metadata = new Map<string, Buffer>();
  const putMetadata = (p: string, bytes: Buffer): void => {
    const there = metadata.get(p);
    if (there && !there.equals(bytes)) throw new SyncError('PATH_COLLISION', `two different metadata files at ${p}`, p);
    metadata.set(p, bytes);
  };
  for (const v of rootVersions) putMetadata(metadataPath('root', v), rootBytes(v));
  putMetadata(metadataPath('root'), rootBytes(newestRoot));
  putMetadata(metadataPath('timestamp'), timestampBytes);
  const roles: RoleSummary[] = [
    { role: 'root', version: newestRoot, expires: trusted.root.signed.expires },
    { role: 'timestamp', version: trusted.timestamp.signed.version, expires: trusted.timestamp.signed.expires },
    { role: 'snapshot', version: trusted.snapshot.signed.version, expires: trusted.snapshot.signed.expires },
  ];
  putMetadata(metadataPath('snapshot', trusted.snapshot.signed.version), snapshotBytes);
  putMetadata(metadataPath('snapshot'), snapshotBytes);
  for (const role of graph.order) {
    const node = graph.nodes.get(role);
    if (!node?.content) continue;
    const { version, expires } = node.content.metadata.signed;
    roles.push({ role, version, expires });
    putMetadata(metadataPath(role, version), node.content.bytes);
    putMetadata(metadataPath(role), node.content.bytes);
  }

  // Target files, each claimed by the target it belongs to; two targets claiming one path with
  // different bytes are both refused (PATH_COLLISION), never first come, first served.
  const claims = new Map<string, FetchedTarget[]>();
  const pathsOf = (t: FetchedTarget): string[] => [...new Set([...Object.values(t.info.hashes).map((h) => targetPath(t.name, h)), targetPath(t.name)])];
  for (const t of targets.fetched) for (const p of pathsOf(t)) claims.set(p, [...(claims.get(p) ?? []), t]);
  const refused = [...targets.refused];
  const colliding = new Set<FetchedTarget>();
  for (const [p, claimants] of claims) {
    const clash = metadata.has(p) || claimants.some((t) => !t.bytes.equals(claimants[0].bytes));
    if (clash) claimants.forEach((t) => colliding.add(t));
  }
  for (const t of colliding) {
    const others = pathsOf(t).flatMap((p) => (claims.get(p) ?? []).filter((o) => o !== t && colliding.has(o)).map((o) => o.name));
    refused.push({
      name: t.name,
      role: t.role,
      code: 'PATH_COLLISION',
      message: `target ${t.name} (${t.role}) and ${[...new Set(others)].join(', ') || 'a metadata file'} claim the same path with different bytes: none of them is mirrored`,
    });
  }
  const kept = targets.fetched.filter((t) => !colliding.has(t));
  const files = new Map<string, Buffer>(metadata);
  for (const t of kept) for (const p of pathsOf(t)) files.set(p, t.bytes);

  // Failed roles: recorded, and their last verified files kept where nothing new claims the path.
  const failedRoles: RoleProblem[] = [];
  for (const { role, error } of graph.problems()) {
    const served = graph.nodes.get(role)?.walked ? undefined : carriedFiles(held, role);
    if (served) {
      roles.push(served.summary);
      for (const f of served.files) if (!files.has(f.path) && !unsafePathReason(f.path)) files.set(f.path, f.bytes);
    }
    const servedVersion = roles.find((r) => r.role === role)?.version ?? null;
    failedRoles.push({ role: printable(role), code: error.code, message: error.message, servedVersion });
  }

  const resolvedTargets: NewResolvedTarget[] = kept.map((t) => ({
    name: t.name,
    role: t.role,
    length: t.info.length,
    hashes: { ...t.info.hashes },
    ...(Object.hasOwn(t.info.unrecognizedFields, 'custom') ? { custom: t.info.custom } : {}),
    bytes: t.bytes,
  }));
  const targetsMetadata = graph.metadataOf('targets').metadata.signed;
  return {
    files: [...files].map(([path, bytes]) => ({ path, bytes })),
    roots: rootVersions.map((version) => ({ version, bytes: rootBytes(version), expires: parseRoot(rootBytes(version)).signed.expires })),
    versions: { root: newestRoot, timestamp: trusted.timestamp.signed.version, snapshot: trusted.snapshot.signed.version, targets: targetsMetadata.version },
    summary: {
      roles,
      rootVersions,
      targets: resolvedTargets.map((t) => t.name),
      ...(failedRoles.length ? { failedRoles } : {}),
      ...(refused.length ? { refusedTargets: refused.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) } : {}),
    },
    resolvedTargets,
  };
}

/** A name as logs and records may show it: control characters escaped, at most 200 characters. */
function printable(name: string): string {
  // eslint-disable-next-line no-control-regex
  return name.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`).slice(0, 200);
}
