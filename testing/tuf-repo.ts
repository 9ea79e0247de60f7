/**
 * An in-memory, correctly signed TUF repository for tests, built with @tufjs/models.
 *
 * It keeps the honest state (keys, thresholds, versions, targets) and publishes it in the exact
 * upstream layout a TUF client downloads (`files()`). Hostile variants are produced from the
 * honest state as bytes (`forge`, `signWith`, `metadataBytes` of an old version) and never change
 * it, so a test can serve the forgery and afterwards carry on with the honest repository.
 */
import { canonicalize } from '@tufjs/canonical-json';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Key, MetaFile, Metadata, MetadataKind, Root, Signature, Snapshot, TargetFile, Targets, Timestamp } from '@tufjs/models';
// Not re-exported from the package index, but needed to build roles with thresholds and delegations.
import { Delegations } from '@tufjs/models/dist/delegations';
import { DelegatedRole, Role, SuccinctRoles } from '@tufjs/models/dist/role';

/** `ecdsa` is the keytype of current Sigstore roots, `ecdsa-sha2-nistp256` that of older ones; both are P-256 with PEM keys. */
export type KeyType = 'ed25519' | 'ecdsa' | 'ecdsa-sha2-nistp256';
export type TopLevelRole = 'root' | 'timestamp' | 'snapshot' | 'targets';
export type AnyMetadata = Metadata<Root | Timestamp | Snapshot | Targets>;
type JSONObject = ReturnType<AnyMetadata['toJSON']>;

/**
 * A role's signed JSON as a forgery (TestRepository.forge) sees it: the fields forgeries rewrite,
 * typed as the specification has them, whichever role they belong to; any other field as unknown.
 * A forgery that must break a type can assign through a wider variable.
 */
export type ForgeableSigned = {
  version: number;
  expires: string;
  keys: Record<string, unknown>;
  roles: Record<string, { keyids: string[]; threshold: number }>;
  meta: Record<string, { version: number; length?: number; hashes?: Record<string, string> }>;
  targets: Record<string, { length: number; hashes: Record<string, string>; custom?: unknown }>;
  [field: string]: unknown;
};

type Delegation = { paths?: string[]; pathHashPrefixes?: string[]; terminating: boolean; keysOverride?: TestKey[] };

export const TOP_LEVEL_ROLES: readonly TopLevelRole[] = ['root', 'timestamp', 'snapshot', 'targets'];

export type TestKey = {
  readonly keyID: string;
  /** The public key as it appears in root or in a delegation. */
  readonly key: Key;
  readonly privateKey: crypto.KeyObject;
};

export type RoleOptions = {
  /** Number of keys (default: the threshold). */
  keys?: number;
  /** Default 1. */
  threshold?: number;
  /** Default: the repository's keyType. */
  keyType?: KeyType;
  /** Default 10 years from now. */
  expires?: Date;
};

export type TestRepositoryOptions = {
  /** Default true. */
  consistentSnapshot?: boolean;
  /** Default ed25519. */
  keyType?: KeyType;
  /** List a sha512 hash for targets besides the sha256 one (and publish a sha512-prefixed copy). */
  sha512?: boolean;
  /**
   * Put length and hashes in the timestamp's and snapshot's meta entries. Off by default, like
   * Sigstore, whose meta entries carry only versions.
   */
  metaHashes?: boolean;
  roles?: Partial<Record<TopLevelRole, RoleOptions>>;
};

export type DelegationOptions = {
  /** Path patterns, e.g. `registry.npmjs.org/*` (or pathHashPrefixes instead). */
  paths?: string[];
  /** Hex prefixes of the sha256 of target paths, instead of paths. */
  pathHashPrefixes?: string[];
  /** Default false. */
  terminating?: boolean;
  /** The targets role that delegates (default the top-level `targets`): nested delegations. */
  delegator?: string;
  /** Delegate with these keys instead of the role's own (a delegation its role's signatures do not meet). */
  keysOverride?: TestKey[];
} & RoleOptions;

export type SuccinctDelegationOptions = {
  bitLength: number;
  namePrefix: string;
  /** Default the top-level `targets`. */
  delegator?: string;
  /**
   * Create and publish every bin role (default true). False for huge bit lengths: the
   * delegation is published, its 2^bitLength bins are not.
   */
  createBins?: boolean;
} & RoleOptions;

export type RotateRootOptions = {
  /** Roles whose keys are all replaced by fresh ones. */
  replaceKeys?: TopLevelRole[];
  newThreshold?: Partial<Record<TopLevelRole, number>>;
  /**
   * Number of keys a role has afterwards (default: its current count, raised to the threshold).
   * Kept keys come first; missing ones are generated, surplus ones dropped.
   */
  keyCount?: Partial<Record<TopLevelRole, number>>;
  /** Type of generated keys (default: the repository's keyType). */
  keyType?: KeyType;
  expires?: Date;
};

type RoleState = {
  keys: TestKey[];
  threshold: number;
  expires: Date;
  /** Version of the latest published metadata, 0 before the first. */
  version: number;
};

type StoredTarget = {
  info: TargetFile;
  bytes: Buffer;
};

const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000;

export function generateKey(type: KeyType = 'ed25519'): TestKey {
  let privateKey: crypto.KeyObject;
  let publicValue: string;
  if (type === 'ed25519') {
    ({ privateKey } = crypto.generateKeyPairSync('ed25519'));
    // TUF encodes ed25519 public keys as the hex of the 32 raw bytes.
    const jwk = crypto.createPublicKey(privateKey).export({ format: 'jwk' });
    publicValue = Buffer.from(jwk.x as string, 'base64url').toString('hex');
  } else {
    ({ privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }));
    publicValue = crypto.createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }).toString();
  }
  const scheme = type === 'ed25519' ? 'ed25519' : 'ecdsa-sha2-nistp256';
  const keyID = computeKeyID(type, scheme, publicValue);
  return { keyID, key: new Key({ keyID, keyType: type, scheme, keyVal: { public: publicValue } }), privateKey };
}

/** The TUF key ID: sha256 of the canonical JSON of the public key (as origin/keys.ts computes it). */
function computeKeyID(keyType: string, scheme: string, publicValue: string): string {
  return digest('sha256', Buffer.from(canonicalize({ keytype: keyType, keyval: { public: publicValue }, scheme })));
}

function signer(key: TestKey): (data: Buffer) => Signature {
  // ECDSA signatures are DER, over sha256, as securesystemslib and Sigstore produce them.
  const algorithm = key.key.keyType === 'ed25519' ? null : 'sha256';
  return (data) => new Signature({ keyID: key.keyID, sig: crypto.sign(algorithm, data, key.privateKey).toString('hex') });
}

/** TUF wants `YYYY-MM-DDTHH:MM:SSZ`, without milliseconds. */
export function tufDate(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A copy of `bytes` with one byte inverted (the middle one by default). */
export function flipByte(bytes: Buffer, index = bytes.length >> 1): Buffer {
  const copy = Buffer.from(bytes);
  copy[index] ^= 0xff;
  return copy;
}

function digest(algorithm: string, bytes: Buffer): string {
  return crypto.createHash(algorithm).update(bytes).digest('hex');
}

function parseMetadata(role: string, json: JSONObject): AnyMetadata {
  switch (role) {
    case 'root':
      return Metadata.fromJSON(MetadataKind.Root, json);
    case 'timestamp':
      return Metadata.fromJSON(MetadataKind.Timestamp, json);
    case 'snapshot':
      return Metadata.fromJSON(MetadataKind.Snapshot, json);
    default:
      return Metadata.fromJSON(MetadataKind.Targets, json);
  }
}

export class TestRepository {
  readonly consistentSnapshot: boolean;
  private readonly keyType: KeyType;
  private readonly hashAlgorithms: string[];
  private readonly metaHashes: boolean;
  /** Top-level and delegated roles. */
  private readonly roles = new Map<string, RoleState>();
  /** Delegations by delegating role, each in delegation (= search) order. */
  private readonly delegations = new Map<string, Map<string, Delegation>>();
  /** Succinct (hash-bin) delegations by delegating role. */
  private readonly succinct = new Map<string, { bitLength: number; namePrefix: string; keys: TestKey[]; threshold: number }>();
  /** Targets by role, then by target path. */
  private readonly targets = new Map<string, Map<string, StoredTarget>>();
  /** Roles to re-sign with a new version at the next publish(). */
  private readonly dirty = new Set<string>();
  private readonly current = new Map<string, AnyMetadata>();
  /** Published bytes by role, then by version. */
  private readonly history = new Map<string, Map<number, Buffer>>();
  /** The upstream layout: file name → bytes. */
  private readonly published = new Map<string, Buffer>();

  /** Creates and publishes version 1 of every top-level role, with no targets. */
  constructor(options: TestRepositoryOptions = {}) {
    this.consistentSnapshot = options.consistentSnapshot ?? true;
    this.keyType = options.keyType ?? 'ed25519';
    this.hashAlgorithms = options.sha512 ? ['sha256', 'sha512'] : ['sha256'];
    this.metaHashes = options.metaHashes ?? false;
    for (const role of TOP_LEVEL_ROLES) this.roles.set(role, this.newRoleState(options.roles?.[role] ?? {}));
    this.targets.set('targets', new Map());
    this.state('root').version = 1;
    this.publishRoot(this.keys('root'));
    this.dirty.add('targets');
    this.publish();
  }

  /**
   * Adds (or replaces) a target in `role` (default `targets`); published at the next publish().
   * Whether the path matches the role's delegation is deliberately not checked.
   */
  addTarget(targetPath: string, bytes: Buffer | string, options: { role?: string; custom?: Record<string, unknown> } = {}): void {
    const role = options.role ?? 'targets';
    const roleTargets = this.targetsOf(role);
    const data = Buffer.from(bytes);
    // The JSON round trip makes `custom` what a parser of the published file would read back.
    const unrecognizedFields = options.custom ? { custom: JSON.parse(JSON.stringify(options.custom)) as JSONObject } : undefined;
    const info = new TargetFile({ path: targetPath, length: data.length, hashes: this.hashesOf(data), unrecognizedFields });
    roleTargets.set(targetPath, { info, bytes: data });
    this.dirty.add(role);
  }

  /** Removes a target from `role`, or from every role holding it. Its files stay published, as in a real repository. */
  removeTarget(targetPath: string, options: { role?: string } = {}): void {
    const roles = options.role ? [options.role] : [...this.targets.keys()];
    const holders = roles.filter((role) => this.targets.get(role)?.delete(targetPath));
    if (holders.length === 0) throw new Error(`no target ${targetPath}`);
    holders.forEach((role) => this.dirty.add(role));
  }

  /**
   * Delegates `paths` (or `pathHashPrefixes`) from a targets role (default the top-level one) to
   * a role `name`, created if new: delegating an existing role again gives it a second delegator.
   * Any name is accepted, hostile ones included (`targets/trusted_root`, `../x`): its files are
   * published at `N.<name>.json` as is. Published at the next publish().
   */
  addDelegation(name: string, options: DelegationOptions): void {
    const delegator = options.delegator ?? 'targets';
    if (!this.targets.has(delegator)) throw new Error(`no targets role ${delegator}`);
    if (this.succinct.has(delegator)) throw new Error(`${delegator} delegates succinctly`);
    if (!this.roles.has(name)) {
      this.roles.set(name, this.newRoleState(options));
      this.targets.set(name, new Map());
    }
    const list = this.delegations.get(delegator) ?? new Map<string, Delegation>();
    list.set(name, {
      ...(options.paths ? { paths: [...options.paths] } : {}),
      ...(options.pathHashPrefixes ? { pathHashPrefixes: [...options.pathHashPrefixes] } : {}),
      terminating: options.terminating ?? false,
      keysOverride: options.keysOverride,
    });
    this.delegations.set(delegator, list);
    this.dirty.add(name).add(delegator);
  }

  /**
   * A succinct (TAP 15 hash-bin) delegation from `delegator` to 2^bitLength bins named
   * `<namePrefix>-<hex>`, all signed by one set of keys. Returns the bin names (none when
   * `createBins` is false).
   */
  addSuccinctDelegation(options: SuccinctDelegationOptions): string[] {
    const delegator = options.delegator ?? 'targets';
    if (!this.targets.has(delegator)) throw new Error(`no targets role ${delegator}`);
    if (this.delegations.has(delegator)) throw new Error(`${delegator} delegates by name`);
    const shared = this.newRoleState(options);
    this.succinct.set(delegator, { bitLength: options.bitLength, namePrefix: options.namePrefix, keys: shared.keys, threshold: shared.threshold });
    this.dirty.add(delegator);
    if (options.createBins === false) return [];
    const sr = new SuccinctRoles({ keyIDs: shared.keys.map((k) => k.keyID), threshold: shared.threshold, bitLength: options.bitLength, namePrefix: options.namePrefix });
    const bins = [...sr.getRoles()];
    for (const bin of bins) {
      this.roles.set(bin, { ...shared, keys: [...shared.keys], version: 0 });
      this.targets.set(bin, new Map());
      this.dirty.add(bin);
    }
    return bins;
  }

  /** The bin of the succinct delegation of `delegator` that `targetPath` belongs to. */
  binFor(targetPath: string, delegator = 'targets'): string {
    const s = this.succinct.get(delegator);
    if (!s) throw new Error(`${delegator} has no succinct delegation`);
    return new SuccinctRoles({ keyIDs: s.keys.map((k) => k.keyID), threshold: s.threshold, bitLength: s.bitLength, namePrefix: s.namePrefix }).getRoleForTarget(targetPath);
  }

  /** Sets a role's expiry: applied by the next rotateRoot() for root, the next publish() otherwise. */
  setExpiry(role: string, expires: Date): void {
    this.state(role).expires = expires;
    if (role !== 'root') this.dirty.add(role);
  }

  /**
   * Publishes what changed: new versions of changed targets roles, then of snapshot if any of
   * those (or snapshot itself) changed, then always a new timestamp.
   */
  publish(): void {
    const changed = [...this.targets.keys()].filter((role) => this.dirty.has(role));
    for (const role of changed) this.publishTargets(role);
    if (changed.length > 0 || this.dirty.has('snapshot')) this.publishSnapshot();
    this.publishTimestamp();
    this.dirty.clear();
  }

  /** Only a new timestamp version, like Sigstore's routine re-signing. */
  bumpTimestamp(): void {
    this.publishTimestamp();
  }

  /**
   * Publishes root N+1, signed by the keys of both root N and root N+1 (so each threshold is met),
   * and then re-signs, via publish(), the other roles whose keys or threshold changed.
   * Returns the new root version.
   */
  rotateRoot(options: RotateRootOptions = {}): number {
    const oldRootKeys = this.keys('root');
    const resign: TopLevelRole[] = [];
    for (const role of TOP_LEVEL_ROLES) {
      const state = this.state(role);
      const threshold = options.newThreshold?.[role] ?? state.threshold;
      const count = options.keyCount?.[role] ?? Math.max(state.keys.length, threshold);
      if (count < threshold) throw new Error(`${role}: ${count} keys cannot meet threshold ${threshold}`);
      const kept = options.replaceKeys?.includes(role) ? [] : state.keys.slice(0, count);
      const keys = [...kept, ...Array.from({ length: count - kept.length }, () => generateKey(options.keyType ?? this.keyType))];
      const changed = threshold !== state.threshold || keys.length !== state.keys.length || keys.some((k, i) => k !== state.keys[i]);
      Object.assign(state, { keys, threshold });
      if (changed && role !== 'root') resign.push(role);
    }
    const root = this.state('root');
    if (options.expires) root.expires = options.expires;
    root.version++;
    this.publishRoot([...new Set([...oldRootKeys, ...root.keys])]);
    if (resign.length > 0) {
      resign.forEach((role) => this.dirty.add(role));
      this.publish();
    }
    return root.version;
  }

  /** The upstream layout, every version ever published included; a copy. */
  files(): Map<string, Buffer> {
    return new Map([...this.published].map(([name, bytes]) => [name, Buffer.from(bytes)]));
  }

  async writeTo(dir: string): Promise<void> {
    for (const [name, bytes] of this.published) {
      const file = path.join(dir, name);
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.writeFile(file, bytes);
    }
  }

  /** The published bytes of root `version`, e.g. a trust anchor. */
  rootBytes(version: number): Buffer {
    return this.metadataBytes('root', version);
  }

  /** The published bytes of a role's metadata, the latest version by default; old versions give genuine rollbacks. */
  metadataBytes(role: string, version = this.state(role).version): Buffer {
    const bytes = this.history.get(role)?.get(version);
    if (!bytes) throw new Error(`${role} version ${version} was never published`);
    return Buffer.from(bytes);
  }

  /** The file names in files() under which a published target lives: one per hash, or its plain path. */
  targetFiles(targetPath: string): string[] {
    for (const roleTargets of this.targets.values()) {
      const target = roleTargets.get(targetPath);
      if (target) return this.targetFileNames(target.info);
    }
    throw new Error(`no target ${targetPath}`);
  }

  /** A copy of the latest published metadata of a role, free to modify. */
  metadata(role: 'root'): Metadata<Root>;
  metadata(role: 'timestamp'): Metadata<Timestamp>;
  metadata(role: 'snapshot'): Metadata<Snapshot>;
  metadata(role: string): Metadata<Targets>;
  metadata(role: string): AnyMetadata {
    const md = this.current.get(role);
    if (!md) throw new Error(`no metadata for ${role}`);
    return parseMetadata(role, structuredClone(md.toJSON()));
  }

  /** The current keys of a role; signing with a prefix of them gives "too few signatures". */
  keys(role: string): TestKey[] {
    return [...this.state(role).keys];
  }

  threshold(role: string): number {
    return this.state(role).threshold;
  }

  /** Replaces the signatures of `metadata` (modified in place) by those of `keys`; returns its serialization. */
  signWith(metadata: AnyMetadata, keys: TestKey[]): Buffer {
    metadata.signatures = {};
    keys.forEach((key) => metadata.sign(signer(key)));
    return this.serialize(metadata);
  }

  /** The file bytes of a metadata object, as published. */
  serialize(metadata: AnyMetadata): Buffer {
    return Buffer.from(`${JSON.stringify(metadata.toJSON(), null, 2)}\n`);
  }

  /**
   * The latest metadata of a role with its signed JSON changed by `mutate`, signed by `keys`
   * (default: the role's keys). Honest state is untouched. Mind that tuf-js silently ignores a
   * timestamp with the version it already has: bump `version` to make it look at the forgery.
   */
  forge(role: string, mutate: (signed: ForgeableSigned) => void, keys: TestKey[] = this.keys(role)): Buffer {
    const json = this.metadata(role).toJSON();
    mutate(json.signed as ForgeableSigned);
    return this.signWith(parseMetadata(role, json), keys);
  }

  private newRoleState(options: RoleOptions): RoleState {
    const threshold = options.threshold ?? 1;
    const count = options.keys ?? threshold;
    if (count < threshold) throw new Error(`${count} keys cannot meet threshold ${threshold}`);
    return {
      keys: Array.from({ length: count }, () => generateKey(options.keyType ?? this.keyType)),
      threshold,
      expires: options.expires ?? new Date(Date.now() + TEN_YEARS_MS),
      version: 0,
    };
  }

  private targetsOf(role: string): Map<string, StoredTarget> {
    const roleTargets = this.targets.get(role);
    if (!roleTargets) throw new Error(`no targets role ${role}`);
    return roleTargets;
  }

  private state(role: string): RoleState {
    const state = this.roles.get(role);
    if (!state) throw new Error(`no role ${role}`);
    return state;
  }

  private common(role: string) {
    const state = this.state(role);
    return { version: state.version, expires: tufDate(state.expires), specVersion: '1.0.31' };
  }

  private publishRoot(signers: TestKey[]): void {
    const keys: Record<string, Key> = {};
    const roles: Record<string, Role> = {};
    for (const role of TOP_LEVEL_ROLES) {
      const state = this.state(role);
      state.keys.forEach((k) => (keys[k.keyID] = k.key));
      roles[role] = new Role({ keyIDs: state.keys.map((k) => k.keyID), threshold: state.threshold });
    }
    const root = new Root({ ...this.common('root'), keys, roles, consistentSnapshot: this.consistentSnapshot });
    this.record('root', new Metadata(root), signers, `${root.version}.root.json`);
  }

  private publishTargets(role: string): void {
    this.state(role).version++;
    const roleTargets = [...this.targetsOf(role).values()];
    const targets = new Targets({
      ...this.common(role),
      targets: Object.fromEntries(roleTargets.map((t) => [t.info.path, t.info])),
      delegations: this.buildDelegations(role),
    });
    for (const target of roleTargets) {
      this.targetFileNames(target.info).forEach((name) => this.published.set(name, target.bytes));
    }
    this.record(role, new Metadata(targets), this.keys(role), this.metadataFileName(role, targets.version));
  }

  private buildDelegations(role: string): Delegations | undefined {
    const keys: Record<string, Key> = {};
    const succinct = this.succinct.get(role);
    if (succinct) {
      succinct.keys.forEach((k) => (keys[k.keyID] = k.key));
      const succinctRoles = new SuccinctRoles({ keyIDs: succinct.keys.map((k) => k.keyID), threshold: succinct.threshold, bitLength: succinct.bitLength, namePrefix: succinct.namePrefix });
      return new Delegations({ keys, succinctRoles });
    }
    const list = this.delegations.get(role);
    if (!list?.size) return undefined;
    const roles: Record<string, DelegatedRole> = {};
    for (const [name, { keysOverride, ...delegation }] of list) {
      const state = this.state(name);
      const delegated = keysOverride ?? state.keys;
      delegated.forEach((k) => (keys[k.keyID] = k.key));
      roles[name] = new DelegatedRole({ name, ...delegation, keyIDs: delegated.map((k) => k.keyID), threshold: state.threshold });
    }
    return new Delegations({ keys, roles });
  }

  private publishSnapshot(): void {
    this.state('snapshot').version++;
    const meta = Object.fromEntries([...this.targets.keys()].map((role) => [`${role}.json`, this.metaFile(role)]));
    const snapshot = new Snapshot({ ...this.common('snapshot'), meta });
    this.record('snapshot', new Metadata(snapshot), this.keys('snapshot'), this.metadataFileName('snapshot', snapshot.version));
  }

  private publishTimestamp(): void {
    this.state('timestamp').version++;
    const timestamp = new Timestamp({ ...this.common('timestamp'), snapshotMeta: this.metaFile('snapshot') });
    this.record('timestamp', new Metadata(timestamp), this.keys('timestamp'), 'timestamp.json');
  }

  private metaFile(role: string): MetaFile {
    const version = this.state(role).version;
    if (!this.metaHashes) return new MetaFile({ version });
    const bytes = this.metadataBytes(role, version);
    return new MetaFile({ version, length: bytes.length, hashes: this.hashesOf(bytes) });
  }

  /** sha256 first: tuf-js names the target file it downloads after the first listed hash. */
  private hashesOf(bytes: Buffer): Record<string, string> {
    return Object.fromEntries(this.hashAlgorithms.map((alg) => [alg, digest(alg, bytes)]));
  }

  private record(role: string, metadata: AnyMetadata, signers: TestKey[], fileName: string): void {
    const bytes = this.signWith(metadata, signers);
    this.current.set(role, metadata);
    let versions = this.history.get(role);
    if (!versions) this.history.set(role, (versions = new Map<number, Buffer>()));
    versions.set(metadata.signed.version, bytes);
    this.published.set(fileName, bytes);
  }

  private metadataFileName(role: string, version: number): string {
    return this.consistentSnapshot ? `${version}.${role}.json` : `${role}.json`;
  }

  /** `targets/dir/<hash>.name` per hash with consistent snapshots (what tuf-js asks for), else `targets/dir/name`. */
  private targetFileNames(info: TargetFile): string[] {
    if (!this.consistentSnapshot) return [`targets/${info.path}`];
    const { dir, base } = path.posix.parse(info.path);
    return Object.values(info.hashes).map((hash) => `targets/${dir ? `${dir}/` : ''}${hash}.${base}`);
  }
}
