import { Metadata, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp } from '@tufjs/models';
// Not re-exported from the package index.
import { Role } from '@tufjs/models/dist/role';
import * as crypto from 'node:crypto';
import { metadataPath, targetPath } from '../lib/layout';
import { parseRoot, parseSnapshot, parseTargets, parseTimestamp } from '../lib/tuf-metadata';
import { OriginError } from './errors';
import { sign, type SigningKey } from './keys';
import type { TargetFileSpec } from './trust-material';

/**
 * TUF metadata for a repository this service signs, as pure functions from one file map (the
 * upstream layout: `N.root.json`, `timestamp.json`, `N.snapshot.json`, `N.targets.json`,
 * `targets/<hash>.<name>`) to the next. Nothing here writes anywhere; publishing goes through
 * the same TUF verification as a sync (origin/origin.ts).
 */

export type TopRole = 'root' | 'targets' | 'snapshot' | 'timestamp';
export const TOP_ROLES: TopRole[] = ['root', 'targets', 'snapshot', 'timestamp'];
export type RoleKeys = Record<TopRole, { keys: SigningKey[]; threshold: number }>;
/** Validity periods in seconds. */
export type Periods = { root: number; targets: number; snapshot: number; timestamp: number };
export type Files = Map<string, Buffer>;

const tufDate = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const after = (now: Date, seconds: number): string => tufDate(new Date(now.getTime() + seconds * 1000));
const SPEC_VERSION = '1.0.31';

export const serialize = (m: Metadata<Root | Targets | Snapshot | Timestamp>): Buffer => Buffer.from(JSON.stringify(m.toJSON(), null, 2) + '\n');

export function bytesOf(files: Files, name: string): Buffer {
  const bytes = files.get(name);
  if (!bytes) throw new OriginError('NOT_INITIALIZED', `${name} is missing: run tuf-mirror origin init first`);
  return bytes;
}

/** The current top-level metadata of a file map. */
export function currentState(files: Files) {
  return {
    root: parseRoot(bytesOf(files, 'root.json')),
    targets: parseTargets(bytesOf(files, 'targets.json')),
    snapshot: parseSnapshot(bytesOf(files, 'snapshot.json')),
    timestamp: parseTimestamp(bytesOf(files, 'timestamp.json')),
  };
}

/** Sign with the role's keys we hold; at least `threshold` of them must be here. */
function signAs(metadata: Metadata<Root | Targets | Snapshot | Timestamp>, role: string, keyids: string[], threshold: number, available: Map<string, SigningKey>): void {
  const signers = keyids.map((id) => available.get(id)).filter((k): k is SigningKey => !!k);
  if (signers.length < threshold) {
    throw new OriginError('THRESHOLD_NOT_MET', `${role} needs ${threshold} of its ${keyids.length} keys; ${signers.length} available (${keyids.join(', ')})`);
  }
  metadata.signatures = {};
  for (const k of signers) sign(metadata, k);
}

const byId = (keys: SigningKey[]): Map<string, SigningKey> => new Map(keys.map((k) => [k.keyID, k]));

/** A target file's entry: length and sha256 + sha512, with the `custom` older clients read. */
function targetFile(t: TargetFileSpec): TargetFile {
  const hashes = { sha256: crypto.createHash('sha256').update(t.bytes).digest('hex'), sha512: crypto.createHash('sha512').update(t.bytes).digest('hex') };
  return new TargetFile({ path: t.name, length: t.bytes.length, hashes, unrecognizedFields: t.custom ? { custom: t.custom as never } : undefined });
}

/** The next version of a targets role with the same targets and delegations, expiring at `expires`. */
function nextTargets(t: Targets, expires: string): Targets {
  return new Targets({ specVersion: t.specVersion, unrecognizedFields: t.unrecognizedFields, targets: t.targets, delegations: t.delegations, version: t.version + 1, expires });
}

/** Targets, snapshot and timestamp for a target list, on top of `base` (the roots and old files). */
function publishChain(
  base: Files,
  root: Metadata<Root>,
  targetsSigned: Metadata<Targets>,
  targetBytes: Map<string, Buffer>,
  snapshotVersion: number,
  timestampVersion: number,
  keys: Map<string, SigningKey>,
  periods: Periods,
  now: Date,
): Files {
  const files = new Map(base);
  const role = (name: TopRole) => root.signed.roles[name];
  // A versioned file never changes: an unchanged targets role keeps its published bytes.
  const targetsBytes = base.get(metadataPath('targets', targetsSigned.signed.version)) ?? serialize(targetsSigned);
  for (const [name, info] of Object.entries(targetsSigned.signed.targets)) {
    for (const hash of Object.values(info.hashes)) files.set(targetPath(name, hash), bytesOf(targetBytes, name));
  }
  files.set(metadataPath('targets', targetsSigned.signed.version), targetsBytes);
  files.set('targets.json', targetsBytes);

  const snapshot = new Metadata(
    new Snapshot({ version: snapshotVersion, specVersion: SPEC_VERSION, expires: after(now, periods.snapshot), meta: { 'targets.json': new MetaFile({ version: targetsSigned.signed.version }) } }),
  );
  signAs(snapshot, 'snapshot', role('snapshot').keyIDs, role('snapshot').threshold, keys);
  const snapshotBytes = serialize(snapshot);
  files.set(metadataPath('snapshot', snapshotVersion), snapshotBytes);
  files.set('snapshot.json', snapshotBytes);
  return withTimestamp(files, root, snapshot, timestampVersion, keys, periods, now);
}

function withTimestamp(files: Files, root: Metadata<Root>, snapshot: Metadata<Snapshot>, version: number, keys: Map<string, SigningKey>, periods: Periods, now: Date): Files {
  const snapshotBytes = bytesOf(files, metadataPath('snapshot', snapshot.signed.version));
  // Length and hashes of the snapshot pin it: a client cannot be handed another one.
  const meta = new MetaFile({
    version: snapshot.signed.version,
    length: snapshotBytes.length,
    hashes: { sha256: crypto.createHash('sha256').update(snapshotBytes).digest('hex') },
  });
  const timestamp = new Metadata(new Timestamp({ version, specVersion: SPEC_VERSION, expires: after(now, periods.timestamp), snapshotMeta: meta }));
  const r = root.signed.roles.timestamp;
  signAs(timestamp, 'timestamp', r.keyIDs, r.threshold, keys);
  files.set('timestamp.json', serialize(timestamp));
  return files;
}

/** Version 1 of everything: root, targets with the trust material, snapshot, timestamp. */
export function initialRepository(roles: RoleKeys, targets: TargetFileSpec[], periods: Periods, now: Date): Files {
  const all = TOP_ROLES.flatMap((r) => roles[r].keys);
  const root = new Metadata(
    new Root({
      version: 1,
      specVersion: SPEC_VERSION,
      expires: after(now, periods.root),
      consistentSnapshot: true,
      keys: Object.fromEntries(all.map((k) => [k.keyID, k.key])),
      roles: Object.fromEntries(TOP_ROLES.map((r) => [r, new Role({ keyIDs: roles[r].keys.map((k) => k.keyID), threshold: roles[r].threshold })])),
    }),
  );
  const keys = byId(all);
  signAs(root, 'root', root.signed.roles.root.keyIDs, roles.root.threshold, keys);
  const rootBytes = serialize(root);
  const base: Files = new Map([
    ['1.root.json', rootBytes],
    ['root.json', rootBytes],
  ]);
  const targetsMd = new Metadata(
    new Targets({ version: 1, specVersion: SPEC_VERSION, expires: after(now, periods.targets), targets: Object.fromEntries(targets.map((t) => [t.name, targetFile(t)])) }),
  );
  signAs(targetsMd, 'targets', root.signed.roles.targets.keyIDs, roles.targets.threshold, keys);
  return publishChain(base, root, targetsMd, new Map(targets.map((t) => [t.name, t.bytes])), 1, 1, keys, periods, now);
}

/**
 * The online key's routine: a new timestamp; a new snapshot too when the current one would
 * otherwise expire within `margin` seconds; and a new targets version with the same targets when
 * it would expire within `margin` and a threshold of its keys is among `keys` (else it is left to
 * its offline keys, and the watch warns).
 */
export function resign(files: Files, keys: SigningKey[], periods: Periods, now: Date, margin: number): { files: Files; resigned: TopRole[] } {
  const { root, targets, snapshot, timestamp } = currentState(files);
  const available = byId(keys);
  const due = (expires: string): boolean => Date.parse(expires) - now.getTime() < margin * 1000;
  const targetsRole = root.signed.roles.targets;
  if (due(targets.signed.expires) && targetsRole.keyIDs.filter((id) => available.has(id)).length >= targetsRole.threshold) {
    const next = new Metadata(nextTargets(targets.signed, after(now, periods.targets)));
    signAs(next, 'targets', targetsRole.keyIDs, targetsRole.threshold, available);
    const bytes = new Map(Object.entries(next.signed.targets).map(([name, info]) => [name, bytesOf(files, targetPath(name, info.hashes.sha256))]));
    const published = publishChain(files, root, next, bytes, snapshot.signed.version + 1, timestamp.signed.version + 1, available, periods, now);
    return { files: published, resigned: ['timestamp', 'snapshot', 'targets'] };
  }
  const next = new Map(files);
  let current = snapshot;
  const snapshotResigned = due(snapshot.signed.expires);
  if (snapshotResigned) {
    const { specVersion, unrecognizedFields, meta, version } = snapshot.signed;
    current = new Metadata(new Snapshot({ specVersion, unrecognizedFields, meta, version: version + 1, expires: after(now, periods.snapshot) }));
    const r = root.signed.roles.snapshot;
    signAs(current, 'snapshot', r.keyIDs, r.threshold, available);
    const bytes = serialize(current);
    next.set(metadataPath('snapshot', current.signed.version), bytes);
    next.set('snapshot.json', bytes);
  }
  return { files: withTimestamp(next, root, current, timestamp.signed.version + 1, available, periods, now), resigned: snapshotResigned ? ['timestamp', 'snapshot'] : ['timestamp'] };
}

/** A new targets version holding exactly `targets`, signed by the targets keys, with a new snapshot and timestamp. */
export function publishTargets(files: Files, targets: TargetFileSpec[], keys: SigningKey[], periods: Periods, now: Date): Files {
  const { root, targets: current, snapshot, timestamp } = currentState(files);
  const available = byId(keys);
  const next = new Metadata(
    new Targets({ version: current.signed.version + 1, specVersion: SPEC_VERSION, expires: after(now, periods.targets), targets: Object.fromEntries(targets.map((t) => [t.name, targetFile(t)])) }),
  );
  const r = root.signed.roles.targets;
  signAs(next, 'targets', r.keyIDs, r.threshold, available);
  return publishChain(files, root, next, new Map(targets.map((t) => [t.name, t.bytes])), snapshot.signed.version + 1, timestamp.signed.version + 1, available, periods, now);
}

export type RootChange = {
  /** New public keys for these roles (all of the role's keys are replaced). */
  replace?: Partial<Record<TopRole, SigningKey[]>>;
  thresholds?: Partial<Record<TopRole, number>>;
};

/** Root N+1, unsigned: keys replaced and thresholds changed as asked, a fresh expiry. */
export function nextRoot(files: Files, change: RootChange, periods: Periods, now: Date): Metadata<Root> {
  const { root } = currentState(files);
  const roles = Object.fromEntries(
    TOP_ROLES.map((name) => {
      const role = root.signed.roles[name];
      const keyIDs = change.replace?.[name]?.map((k) => k.keyID) ?? role.keyIDs;
      const threshold = change.thresholds?.[name] ?? role.threshold;
      if (threshold < 1 || threshold > keyIDs.length) throw new OriginError('BAD_INPUT', `${name}: threshold ${threshold} with ${keyIDs.length} keys`);
      return [name, new Role({ keyIDs, threshold })];
    }),
  );
  const used = new Set(Object.values(roles).flatMap((r) => r.keyIDs));
  const keys = Object.fromEntries([
    ...Object.entries(root.signed.keys).filter(([id]) => used.has(id)),
    ...Object.values(change.replace ?? {}).flatMap((ks) => ks.map((k) => [k.keyID, k.key] as const)),
  ]);
  return new Metadata(new Root({ version: root.signed.version + 1, specVersion: SPEC_VERSION, expires: after(now, periods.root), consistentSnapshot: true, keys, roles }));
}

/** Add the signatures of whichever of `keys` root N or N+1 lists; the others are ignored. */
export function signRoot(pending: Metadata<Root>, previous: Metadata<Root>, keys: SigningKey[]): number {
  const wanted = new Set([...previous.signed.roles.root.keyIDs, ...pending.signed.roles.root.keyIDs]);
  const signers = keys.filter((k) => wanted.has(k.keyID));
  for (const k of signers) sign(pending, k);
  return signers.length;
}

/** Root N+1 must meet the root thresholds of both N and N+1 (the TUF rotation rule). */
export function checkRootThresholds(pending: Metadata<Root>, previous: Metadata<Root>): void {
  for (const [which, trusted] of [
    [`root v${previous.signed.version}`, previous],
    [`root v${pending.signed.version}`, pending],
  ] as const) {
    try {
      trusted.verifyDelegate('root', pending);
    } catch (err) {
      throw new OriginError('THRESHOLD_NOT_MET', `root v${pending.signed.version} is not signed by the threshold of ${which}: ${(err as Error).message}`);
    }
  }
}

/**
 * Publish a fully signed root N+1, then re-sign what its key changes require: timestamp and
 * snapshot always (with the keys N+1 names), targets when its keys or threshold changed.
 */
export function publishRoot(files: Files, pending: Metadata<Root>, keys: SigningKey[], periods: Periods, now: Date): Files {
  const { root: previous, targets, snapshot, timestamp } = currentState(files);
  checkRootThresholds(pending, previous);
  const rootBytes = serialize(pending);
  const next = new Map(files);
  next.set(metadataPath('root', pending.signed.version), rootBytes);
  next.set('root.json', rootBytes);
  const available = byId(keys);
  const targetsRole = (r: Metadata<Root>) => JSON.stringify(r.signed.roles.targets.toJSON());
  let targetsMd = targets;
  if (targetsRole(previous) !== targetsRole(pending)) {
    targetsMd = new Metadata(nextTargets(targets.signed, after(now, periods.targets)));
    signAs(targetsMd, 'targets', pending.signed.roles.targets.keyIDs, pending.signed.roles.targets.threshold, available);
  }
  const targetBytes = new Map(Object.entries(targetsMd.signed.targets).map(([name, info]) => [name, bytesOf(next, targetPath(name, info.hashes.sha256))]));
  return publishChain(next, pending, targetsMd, targetBytes, snapshot.signed.version + 1, timestamp.signed.version + 1, available, periods, now);
}
