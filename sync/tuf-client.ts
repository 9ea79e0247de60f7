/**
 * The TUF client workflow's checks (specification 5.3 to 5.6) and its target search (5.6.7),
 * over @tufjs/models' public classes. This is the only module that knows how @tufjs/models
 * behaves; sync/walk.ts drives it, step by step, over a Source.
 *
 * Why not tuf-js's Updater: it hides the verified metadata and the delegated-role loader (the
 * sync used to cast its way in), walks delegations only on the way to one target, and takes its
 * expiry reference time privately at construction (an --allow-expired import could not relax it
 * without reaching inside). Its TrustedMetadataStore has the same private reference time.
 *
 * What this module relies on from @tufjs/models (4.1.1, pinned exactly in package.json; tuf-js,
 * the reference client the tests compare with, is pinned at 5.0.1 for the same reason):
 * Metadata.fromJSON and verifyDelegate, Signed.isExpired, MetaFile.verify, Delegations.roles in
 * insertion order with DelegatedRole.isDelegatedPath (minimatch per path segment; path hash
 * prefixes are matched here the same way, hashing a name once per search) and rolesForTarget
 * for succinct delegations, and SuccinctRoles' bin naming. test/sync/tuf-client.test.ts fails loudly if an upgrade changes any of
 * it, and compares every resolution with tuf-js's Updater on nested, terminating, hash-prefixed
 * and succinct delegations.
 */
import { Metadata, MetadataKind, type MetaFile, type Root, type Snapshot, type TargetFile, type Targets, type Timestamp } from '@tufjs/models';
import { createHash } from 'node:crypto';
import { ownValue } from '../lib/records';
import { SyncError, type SyncErrorCode } from './errors';

/** The defaults of tuf-js, python-tuf and go-tuf alike. */
export const CLIENT_LIMITS = {
  /** New roots fetched in one run at most. */
  maxRootRotations: 256,
  rootMaxBytes: 512_000,
  timestampMaxBytes: 16_384,
  /** Used when the referrer does not pin a length. */
  snapshotMaxBytes: 2_000_000,
  targetsMaxBytes: 5_000_000,
  /** Roles one target search visits at most: a client gives up after as many, so the mirror does too. */
  maxRolesPerSearch: 32,
} as const;

/** A reference time at which nothing is expired (an --allow-expired import): no other check changes with it. */
export const EARLIEST_DATE = new Date(-8.64e15);

const fail = (code: SyncErrorCode, role: string, message: string, cause?: unknown): SyncError => new SyncError(code, message, role, { cause });
const reason = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** JSON text of metadata; invalid UTF-8 is refused, so the bytes served are the bytes whose content was verified. */
function decodeJson(bytes: Buffer, role: string): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw fail('MALFORMED_METADATA', role, `${role}: not JSON text (${reason(err)})`, err);
  }
}

function parsed<T>(role: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw fail('MALFORMED_METADATA', role, `${role}: not TUF ${role === 'root' || role === 'timestamp' || role === 'snapshot' ? role : 'targets'} metadata (${reason(err)})`, err);
  }
}

export function parseRoot(bytes: Buffer, role = 'root'): Metadata<Root> {
  const json = decodeJson(bytes, role);
  return parsed(role, () => Metadata.fromJSON(MetadataKind.Root, toObject(json)));
}

function parseTimestamp(bytes: Buffer): Metadata<Timestamp> {
  const json = decodeJson(bytes, 'timestamp');
  return parsed('timestamp', () => Metadata.fromJSON(MetadataKind.Timestamp, toObject(json)));
}

function parseSnapshot(bytes: Buffer): Metadata<Snapshot> {
  const json = decodeJson(bytes, 'snapshot');
  return parsed('snapshot', () => Metadata.fromJSON(MetadataKind.Snapshot, toObject(json)));
}

/** Targets metadata; a delegation list naming one role twice is refused (tuf-js would silently keep the last). */
export function parseTargets(bytes: Buffer, role: string): Metadata<Targets> {
  const json = decodeJson(bytes, role);
  const md = parsed(role, () => Metadata.fromJSON(MetadataKind.Targets, toObject(json)));
  const listed = rawDelegatedRoles(json);
  const kept = md.signed.delegations?.roles;
  if (kept && listed !== undefined && listed !== Object.keys(kept).length) {
    throw fail('MALFORMED_METADATA', role, `${role}: its delegations name a role more than once`);
  }
  return md;
}

type JsonObject = Parameters<typeof Metadata.fromJSON>[1];

function toObject(json: unknown): JsonObject {
  if (!isRecord(json)) throw new TypeError('not a JSON object');
  return json;
}

function isRecord(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** How many entries `signed.delegations.roles` has in the JSON itself. */
function rawDelegatedRoles(json: unknown): number | undefined {
  if (!isRecord(json) || !isRecord(json.signed) || !isRecord(json.signed.delegations)) return undefined;
  const roles = json.signed.delegations.roles;
  return Array.isArray(roles) ? roles.length : undefined;
}

/** `expires` as a time; tuf-js would take an unparseable one as never expiring, other clients refuse it. So do we. */
function checkExpiry(md: Metadata<Root | Timestamp | Snapshot | Targets>, role: string, referenceTime: Date): void {
  const { version, expires } = md.signed;
  if (Number.isNaN(Date.parse(expires))) throw fail('MALFORMED_METADATA', role, `${role} v${version}: expires "${expires}" is not a date`);
  if (md.signed.isExpired(referenceTime)) throw fail('EXPIRED_METADATA', role, `${role} v${version} expired ${expires}`);
}

function verifySignatures(delegator: Metadata<Root> | Metadata<Targets>, role: string, md: Metadata<Root | Timestamp | Snapshot | Targets>, by: string): void {
  try {
    delegator.verifyDelegate(role, md);
  } catch (err) {
    throw fail('UNSIGNED_METADATA', role, `${role} v${md.signed.version} is not signed by its threshold of ${by}'s keys for it (${reason(err)})`, err);
  }
}

/** Length and hashes a referrer pins for a metadata file, when it pins them. */
function checkMetaFile(meta: MetaFile, bytes: Buffer, role: string): void {
  try {
    meta.verify(bytes);
  } catch (err) {
    throw fail('LENGTH_OR_HASH_MISMATCH', role, `${role}: does not match the length or hashes its referrer pins (${reason(err)})`, err);
  }
}

/**
 * The trusted metadata of one run, updated step by step as the specification orders it. Every
 * `update*` checks the bytes it is given and throws a SyncError naming the role; nothing it has
 * not checked becomes trusted. Expiry is judged at `referenceTime`, taken once for the run (an
 * --allow-expired import passes the earliest representable date: nothing is then expired, and
 * no other check changes).
 */
export class TrustedSet {
  private currentRoot: Metadata<Root>;
  private currentTimestamp?: Metadata<Timestamp>;
  private currentSnapshot?: Metadata<Snapshot>;

  /** `rootBytes`: a root already trusted (the anchor, or the newest one verified before). */
  constructor(
    rootBytes: Buffer,
    private readonly referenceTime: Date,
  ) {
    const root = parseRoot(rootBytes);
    verifySignatures(root, 'root', root, 'root');
    this.currentRoot = root;
  }

  get root(): Metadata<Root> {
    return this.currentRoot;
  }

  get timestamp(): Metadata<Timestamp> {
    if (!this.currentTimestamp) throw new SyncError('INTERNAL', 'no trusted timestamp yet', 'timestamp');
    return this.currentTimestamp;
  }

  get snapshot(): Metadata<Snapshot> {
    if (!this.currentSnapshot) throw new SyncError('INTERNAL', 'no trusted snapshot yet', 'snapshot');
    return this.currentSnapshot;
  }

  /**
   * The snapshot trusted so far, if any: before updateSnapshot, the held one that useHeldSnapshot
   * found still signed by the current root (what a new snapshot replaces); after, the new one.
   */
  get heldSnapshot(): Metadata<Snapshot> | undefined {
    return this.currentSnapshot;
  }

  get consistentSnapshot(): boolean {
    return this.currentRoot.signed.consistentSnapshot;
  }

  /** 5.3.4 to 5.3.7: root N+1, signed by root N's threshold and by its own. */
  updateRoot(bytes: Buffer): Metadata<Root> {
    const next = parseRoot(bytes);
    const version = this.currentRoot.signed.version;
    verifySignatures(this.currentRoot, 'root', next, `root v${version}`);
    if (next.signed.version !== version + 1) throw fail('BAD_VERSION', 'root', `root v${version + 1} was asked for, root v${next.signed.version} came`);
    verifySignatures(next, 'root', next, `root v${next.signed.version}`);
    this.currentRoot = next;
    return next;
  }

  /** 5.3.10: the final root must not be expired (it is trusted whether expired or not until here). */
  checkFinalRoot(): void {
    checkExpiry(this.currentRoot, 'root', this.referenceTime);
  }

  /**
   * The timestamp held from an earlier run, as the floor for rollback checks (5.4.3). Expired or
   * not; ignored if the current root's timestamp keys no longer sign it (5.3.11: rotated keys
   * reset what the old ones vouched for).
   */
  useHeldTimestamp(bytes: Buffer): boolean {
    try {
      const held = parseTimestamp(bytes);
      verifySignatures(this.currentRoot, 'timestamp', held, 'root');
      this.currentTimestamp = held;
      return true;
    } catch {
      return false;
    }
  }

  /**
   * 5.4.2 to 5.4.4. `same-version`: the new timestamp has the held one's version, which stays
   * (as with every client: an equal version is not news, whatever its bytes).
   */
  updateTimestamp(bytes: Buffer): 'updated' | 'same-version' {
    const next = parseTimestamp(bytes);
    verifySignatures(this.currentRoot, 'timestamp', next, 'root');
    const held = this.currentTimestamp;
    let outcome: 'updated' | 'same-version' = 'updated';
    if (held) {
      const [now, before] = [next.signed.version, held.signed.version];
      if (now < before) throw fail('BAD_VERSION', 'timestamp', `timestamp v${now} is older than the v${before} already verified (a rollback)`);
      if (now === before) outcome = 'same-version';
      else if (next.signed.snapshotMeta.version < held.signed.snapshotMeta.version) {
        throw fail('BAD_VERSION', 'timestamp', `timestamp v${now} names snapshot v${next.signed.snapshotMeta.version}, older than the v${held.signed.snapshotMeta.version} already verified`);
      }
    }
    if (outcome === 'updated') this.currentTimestamp = next;
    checkExpiry(this.timestamp, 'timestamp', this.referenceTime);
    return outcome;
  }

  /**
   * 5.5 with the snapshot held from an earlier run: true if it is the final snapshot (the
   * timestamp names its version and it is not expired), so nothing needs downloading. Either
   * way, if its signatures still verify it is the floor for the new snapshot's rollback checks.
   */
  useHeldSnapshot(bytes: Buffer): boolean {
    let held: Metadata<Snapshot>;
    try {
      held = parseSnapshot(bytes);
      verifySignatures(this.currentRoot, 'snapshot', held, 'root');
    } catch {
      return false;
    }
    this.currentSnapshot = held;
    try {
      this.checkFinalSnapshot();
      return true;
    } catch {
      return false;
    }
  }

  /** 5.5.2 to 5.5.6. */
  updateSnapshot(bytes: Buffer): void {
    checkMetaFile(this.timestamp.signed.snapshotMeta, bytes, 'snapshot');
    const next = parseSnapshot(bytes);
    verifySignatures(this.currentRoot, 'snapshot', next, 'root');
    const held = this.currentSnapshot;
    if (held) {
      for (const [file, info] of Object.entries(held.signed.meta)) {
        const now = ownValue(next.signed.meta, file);
        if (!now) throw fail('REPOSITORY_ERROR', 'snapshot', `snapshot v${next.signed.version} drops ${file}, which snapshot v${held.signed.version} listed`);
        if (now.version < info.version) throw fail('BAD_VERSION', 'snapshot', `snapshot v${next.signed.version} names ${file} v${now.version}, older than the v${info.version} already verified`);
      }
    }
    this.currentSnapshot = next;
    this.checkFinalSnapshot();
  }

  private checkFinalSnapshot(): void {
    const snapshot = this.snapshot;
    checkExpiry(snapshot, 'snapshot', this.referenceTime);
    const named = this.timestamp.signed.snapshotMeta.version;
    if (snapshot.signed.version !== named) throw fail('BAD_VERSION', 'snapshot', `the timestamp names snapshot v${named}, snapshot v${snapshot.signed.version} came`);
  }

  /** What the snapshot says of a targets role (version, and length and hashes if pinned); REPOSITORY_ERROR if it is not listed. */
  metaOf(role: string): MetaFile {
    const meta = ownValue(this.snapshot.signed.meta, `${role}.json`);
    if (!meta) throw fail('REPOSITORY_ERROR', role, `snapshot v${this.snapshot.signed.version} does not list ${role}.json`);
    return meta;
  }

  /** 5.6.2: the bytes of a targets role, against the snapshot; the checks that do not depend on who delegated it. */
  readTargets(role: string, bytes: Buffer): Metadata<Targets> {
    checkMetaFile(this.metaOf(role), bytes, role);
    return parseTargets(bytes, role);
  }

  /**
   * 5.6.3 to 5.6.5 for one delegation: signed by the threshold of keys `delegator` gives `role`
   * (the root for the top-level targets), the version the snapshot names, not expired.
   */
  checkTargets(role: string, md: Metadata<Targets>, delegator: { name: string; metadata: Metadata<Root> | Metadata<Targets> }): void {
    verifySignatures(delegator.metadata, role, md, delegator.name);
    const named = this.metaOf(role).version;
    if (md.signed.version !== named) throw fail('BAD_VERSION', role, `the snapshot names ${role} v${named}, ${role} v${md.signed.version} came`);
    checkExpiry(md, role, this.referenceTime);
  }
}

export type DelegatedRoles =
  | { roles: string[] }
  /** The delegations cannot be walked: too many roles (TOO_MANY_DELEGATIONS, SUCCINCT_DELEGATION_TOO_LARGE). */
  | { refused: SyncError };

/**
 * The roles a targets role delegates to, in the order a client searches them. A succinct
 * (hash-bin) delegation of 2^bit_length roles is refused as a whole beyond `maxRoles`, before
 * any name is generated (bit_length 32 is 4 billion roles).
 */
export function delegatedRoles(role: string, md: Metadata<Targets>, maxRoles: number): DelegatedRoles {
  const delegations = md.signed.delegations;
  if (!delegations) return { roles: [] };
  if (delegations.roles) return { roles: Object.values(delegations.roles).map((r) => r.name) };
  const succinct = delegations.succinctRoles;
  if (!succinct) return { roles: [] };
  if (2 ** succinct.bitLength > maxRoles) {
    return {
      refused: fail(
        'SUCCINCT_DELEGATION_TOO_LARGE',
        role,
        `${role} delegates to 2^${succinct.bitLength} = ${2 ** succinct.bitLength} hash-bin roles (${succinct.namePrefix}-…), more than sync.maxDelegatedRoles (${maxRoles}): none of them is mirrored`,
      ),
    };
  }
  return { roles: [...succinct.getRoles()] };
}

/** Where a role stands for a search that reaches it from `delegator`. */
export type Reach = { metadata: Metadata<Targets> } | { error: SyncError };

/** The verified delegation graph a search runs over: a role's metadata as reached from one delegator. */
export type RoleGraph = (role: string, delegator: string) => Reach;

export type Resolution =
  /** The TargetFile a client resolves the name to, and the role that signed it. */
  | { kind: 'found'; role: string; info: TargetFile }
  /** A client's search fails at `role` (expired, badly signed, missing, refused): so does the mirror's. */
  | { kind: 'blocked'; role: string; error: SyncError }
  /** No role on the search path lists it: a client does not find it either. */
  | { kind: 'absent' };

/**
 * TUF's target search (5.6.7), exactly as tuf-js, python-tuf and go-tuf run it: preorder depth
 * first from the top-level targets, children in delegation order and only those whose paths (or
 * path hash prefixes, or hash bin) match the name, a terminating delegation ending the search
 * below it, each role visited once, at most `maxRolesPerSearch` roles.
 */
export function searchTarget(name: string, graph: RoleGraph): Resolution {
  // The first step without the search's bookkeeping: most names are listed by the top-level role.
  const top = graph('targets', 'root');
  if ('metadata' in top && Object.hasOwn(top.metadata.signed.targets, name)) return { kind: 'found', role: 'targets', info: top.metadata.signed.targets[name] };
  let hash: string | undefined;
  const nameHash = (): string => (hash ??= createHash('sha256').update(name).digest('hex'));
  const stack: { role: string; delegator: string }[] = [{ role: 'targets', delegator: 'root' }];
  const visited = new Set<string>();
  while (visited.size <= CLIENT_LIMITS.maxRolesPerSearch && stack.length > 0) {
    const next = stack.pop();
    if (!next || visited.has(next.role)) continue;
    const reach = graph(next.role, next.delegator);
    if ('error' in reach) return { kind: 'blocked', role: next.role, error: reach.error };
    // Own keys only: `constructor` is not a target of every role.
    const targets = reach.metadata.signed.targets;
    if (Object.hasOwn(targets, name)) return { kind: 'found', role: next.role, info: targets[name] };
    visited.add(next.role);
    const children: { role: string; delegator: string }[] = [];
    for (const { role, terminating } of delegationsFor(reach.metadata, name, nameHash)) {
      children.push({ role, delegator: next.role });
      if (terminating) {
        stack.length = 0;
        break;
      }
    }
    stack.push(...children.reverse());
  }
  return { kind: 'absent' };
}

/**
 * The delegations of a role that a target name falls under, in delegation order: what
 * Delegations.rolesForTarget yields, but with the name's sha256 computed once per search rather
 * than once per hash-prefixed role (a hash-bin layout of thousands of roles would otherwise hash
 * every name thousands of times). Paths match as @tufjs/models matches them.
 */
function delegationsFor(md: Metadata<Targets>, name: string, nameHash: () => string): { role: string; terminating: boolean }[] {
  const delegations = md.signed.delegations;
  if (!delegations?.roles) return [...(delegations?.rolesForTarget(name) ?? [])];
  const out: { role: string; terminating: boolean }[] = [];
  for (const role of Object.values(delegations.roles)) {
    const prefixes = role.pathHashPrefixes;
    const matches = role.paths ? role.isDelegatedPath(name) : prefixes ? prefixes.some((p) => nameHash().startsWith(p)) : false;
    if (matches) out.push({ role: role.name, terminating: role.terminating });
  }
  return out;
}
