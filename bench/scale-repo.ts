/**
 * A TUF repository of N small targets on disk, written the way an upstream publishes it
 * (ed25519 keys, consistent snapshots): flat (every target in the top-level targets role) or
 * hash-bin (a succinct delegation to 2^BIN_BITS bins). Used by bench/sync-scale.ts.
 */
import { canonicalize } from '@tufjs/canonical-json';
import { Key, MetaFile, Metadata, Root, Signature, Snapshot, TargetFile, Targets, Timestamp } from '@tufjs/models';
import { Delegations } from '@tufjs/models/dist/delegations';
import { Role, SuccinctRoles } from '@tufjs/models/dist/role';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export type Variant = 'flat' | 'hash-bin';
export const TARGET_BYTES = 1024;
export const BIN_BITS = 8; // 256 hash-bin roles
/** TUF dates carry no fraction of a second. */
const EXPIRES = new Date(Date.now() + 365 * 86400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const common = (version: number) => ({ version, specVersion: '1.0.31', expires: EXPIRES });

type SigningKey = { key: Key; privateKey: crypto.KeyObject };

function newKey(): SigningKey {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('hex');
  const keyval = { public: raw };
  const keyID = crypto
    .createHash('sha256')
    .update(canonicalize({ keytype: 'ed25519', keyval, scheme: 'ed25519' }))
    .digest('hex');
  return { key: new Key({ keyID, keyType: 'ed25519', scheme: 'ed25519', keyVal: keyval }), privateKey };
}

function signed(signedPart: Root | Targets | Snapshot | Timestamp, key: SigningKey): Buffer {
  const metadata = new Metadata(signedPart);
  metadata.sign((data) => new Signature({ keyID: key.key.keyID, sig: crypto.sign(null, data, key.privateKey).toString('hex') }));
  return Buffer.from(JSON.stringify(metadata.toJSON()));
}

const sha256 = (bytes: Buffer): string => crypto.createHash('sha256').update(bytes).digest('hex');

export class DiskRepository {
  private readonly keys = { root: newKey(), timestamp: newKey(), snapshot: newKey(), targets: newKey(), bins: newKey() };
  private readonly contents = new Map<string, Buffer>();
  /** Each role's current version and the length of its file. */
  private readonly roleVersions = new Map<string, { version: number; length: number }>();
  private snapshotVersion = 0;
  private timestampVersion = 0;
  private readonly succinct?: SuccinctRoles;

  constructor(
    readonly dir: string,
    readonly variant: Variant,
    size: number,
  ) {
    fs.mkdirSync(path.join(dir, 'targets'), { recursive: true });
    if (variant === 'hash-bin') {
      this.succinct = new SuccinctRoles({ keyIDs: [this.keys.bins.key.keyID], threshold: 1, bitLength: BIN_BITS, namePrefix: 'bin' });
    }
    for (let i = 0; i < size; i++) this.contents.set(`file-${String(i).padStart(6, '0')}.bin`, crypto.randomBytes(TARGET_BYTES));
    const root = new Root({
      ...common(1),
      consistentSnapshot: true,
      keys: Object.fromEntries(Object.values(this.keys).map((k) => [k.key.keyID, k.key])),
      roles: {
        root: new Role({ keyIDs: [this.keys.root.key.keyID], threshold: 1 }),
        timestamp: new Role({ keyIDs: [this.keys.timestamp.key.keyID], threshold: 1 }),
        snapshot: new Role({ keyIDs: [this.keys.snapshot.key.keyID], threshold: 1 }),
        targets: new Role({ keyIDs: [this.keys.targets.key.keyID], threshold: 1 }),
      },
    });
    const rootBytes = signed(root, this.keys.root);
    fs.writeFileSync(path.join(dir, '1.root.json'), rootBytes);
    fs.writeFileSync(path.join(dir, 'root.json'), rootBytes);
    for (const [name, bytes] of this.contents) this.writeTarget(name, bytes);
    this.publish(this.succinct ? ['targets', ...this.succinct.getRoles()] : ['targets']);
  }

  get anchor(): string {
    return path.join(this.dir, '1.root.json');
  }

  /** Replace one target's bytes and publish the roles that change with it. */
  changeOne(): void {
    const name = this.contents.keys().next().value as string;
    const bytes = crypto.randomBytes(TARGET_BYTES);
    this.contents.set(name, bytes);
    this.writeTarget(name, bytes);
    this.publish([this.succinct ? this.succinct.getRoleForTarget(name) : 'targets']);
  }

  /** Re-sign the timestamp alone (what an upstream does daily): nothing below it changes. */
  renewTimestamp(): void {
    this.writeTimestamp();
  }

  private writeTarget(name: string, bytes: Buffer): void {
    fs.writeFileSync(path.join(this.dir, 'targets', `${sha256(bytes)}.${name}`), bytes);
  }

  private targetFile(name: string): TargetFile {
    const bytes = this.contents.get(name);
    if (!bytes) throw new Error(`no target ${name}`);
    return new TargetFile({ path: name, length: bytes.length, hashes: { sha256: sha256(bytes) } });
  }

  private publish(changedRoles: string[]): void {
    for (const role of changedRoles) {
      const version = (this.roleVersions.get(role)?.version ?? 0) + 1;
      let bytes: Buffer;
      if (role === 'targets') {
        const targets = this.succinct ? {} : Object.fromEntries([...this.contents.keys()].map((n) => [n, this.targetFile(n)]));
        const delegations = this.succinct ? new Delegations({ keys: { [this.keys.bins.key.keyID]: this.keys.bins.key }, succinctRoles: this.succinct }) : undefined;
        bytes = signed(new Targets({ ...common(version), targets, delegations }), this.keys.targets);
      } else {
        const succinct = this.succinct;
        if (!succinct) throw new Error(`no role ${role}`);
        const mine = [...this.contents.keys()].filter((n) => this.binOf(succinct, n) === role);
        bytes = signed(new Targets({ ...common(version), targets: Object.fromEntries(mine.map((n) => [n, this.targetFile(n)])) }), this.keys.bins);
      }
      fs.writeFileSync(path.join(this.dir, `${version}.${role}.json`), bytes);
      this.roleVersions.set(role, { version, length: bytes.length });
    }
    this.snapshotVersion++;
    // Lengths pinned: a flat role of 50 000 targets (6 MB) is over the 5 MB clients accept unpinned.
    const meta = Object.fromEntries([...this.roleVersions].map(([role, { version, length }]) => [`${role}.json`, new MetaFile({ version, length })]));
    fs.writeFileSync(path.join(this.dir, `${this.snapshotVersion}.snapshot.json`), signed(new Snapshot({ ...common(this.snapshotVersion), meta }), this.keys.snapshot));
    this.writeTimestamp();
  }

  private readonly bins = new Map<string, string>();

  /** A target's bin, hashed once per name (publishing every bin would otherwise hash every name per bin). */
  private binOf(succinct: SuccinctRoles, name: string): string {
    let bin = this.bins.get(name);
    if (bin === undefined) this.bins.set(name, (bin = succinct.getRoleForTarget(name)));
    return bin;
  }

  private writeTimestamp(): void {
    this.timestampVersion++;
    fs.writeFileSync(
      path.join(this.dir, 'timestamp.json'),
      signed(new Timestamp({ ...common(this.timestampVersion), snapshotMeta: new MetaFile({ version: this.snapshotVersion }) }), this.keys.timestamp),
    );
  }
}
