import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Metadata, Root } from '@tufjs/models';
import { isSignedHere, type RepositoryConfig } from '../config/config';
import type { Logger } from '../lib/log';
import { MetadataError, parseRoot } from '../lib/tuf-metadata';
import type { GenerationRecord, Store } from '../store/store';
import { MapSource } from '../sync/source';
import { syncRepository } from '../sync/sync';
import { OriginError } from './errors';
import { generateKey, readKeyDir, readKeyFile, sign, writeKeyFile, type KeyType, type SigningKey } from './keys';
import {
  bytesOf,
  currentState,
  initialRepository,
  nextRoot,
  publishRoot,
  publishTargets,
  resign,
  serialize,
  signRoot,
  TOP_ROLES,
  type Files,
  type Periods,
  type RootChange,
  type TopRole,
} from './repository';
import { parseTrustMaterial, trustTargets, type TargetFileSpec, type TrustMaterial } from './trust-material';

/**
 * Operations on a repository this service signs: an origin (trust material given here) or a
 * bridge (bridge/: targets re-signed from a verified source). Each builds the next file map in
 * memory, then publishes it through the same TUF client workflow a sync runs (a MapSource instead
 * of an upstream): what we signed is verified from our own root chain before anyone can be served it.
 */
export type OriginContext = { store: Store; repository: RepositoryConfig; logger: Logger };

function settings(repository: RepositoryConfig) {
  if (!isSignedHere(repository) || !repository.origin) throw new OriginError('NOT_AN_ORIGIN', `repository ${repository.name} is not signed here (kind: origin or bridge)`);
  return repository.origin;
}

export function periodsOf(repository: RepositoryConfig): Periods {
  const o = settings(repository);
  return { root: o.rootExpiry, targets: o.targetsExpiry, snapshot: o.snapshotExpiry, timestamp: o.timestampExpiry };
}

/** The generation served now; NOT_INITIALIZED before the first. */
function servedGeneration(store: Store, name: string): GenerationRecord {
  const generation = store.currentGeneration(name);
  if (!generation) throw new OriginError('NOT_INITIALIZED', `${name} holds nothing yet: run its init (tuf-mirror origin init or tuf-mirror bridge init)`);
  return generation;
}

/** The current generation's files (the layout paths a client asks for). */
export function currentFiles(store: Store, name: string): Files {
  return store.generationContents(servedGeneration(store, name));
}

async function publish(ctx: OriginContext, files: Files, reason: string): Promise<GenerationRecord> {
  const result = await syncRepository({ store: ctx.store, repository: ctx.repository, logger: ctx.logger, source: new MapSource(files, `origin:${reason}`) });
  if (result.outcome === 'failed') {
    throw new OriginError('VERIFICATION_FAILED', `${reason}: what was signed failed verification, nothing published: ${result.error.code} ${result.error.message}`);
  }
  return result.generation;
}

/** How many keys of each top-level role to generate, of which type. */
export type KeyOptions = {
  keyType: KeyType;
  keys: Record<TopRole, { count: number; threshold: number }>;
  now?: Date;
};

export type InitOptions = KeyOptions & {
  material: TrustMaterial;
  operator: string;
};

export type Initialized = { generation: GenerationRecord; keyFiles: string[]; anchor: string };

/** An origin: its trust material built into targets, then initSigned. */
export async function initOrigin(ctx: OriginContext, options: InitOptions): Promise<Initialized> {
  const now = options.now ?? new Date();
  return initSigned(ctx, trustTargets(options.material, options.operator, now), { ...options, now });
}

/**
 * Keys into keysDir, root v1 as the trust anchor, and generation 1 holding `targets`. Nothing is
 * left behind if it fails.
 */
export async function initSigned(ctx: OriginContext, targets: TargetFileSpec[], options: KeyOptions): Promise<Initialized> {
  const { store, repository } = ctx;
  const o = settings(repository);
  store.ensureRepository(repository.name, repository.upstream);
  const held = store.currentGeneration(repository.name);
  if (held) throw new OriginError('ALREADY_INITIALIZED', `${repository.name} already holds generation ${held.id}`);
  if (fs.existsSync(repository.trustAnchor)) throw new OriginError('ALREADY_INITIALIZED', `${repository.trustAnchor} exists: ${repository.name} was initialized before`);
  const now = options.now ?? new Date();
  const roles = Object.fromEntries(
    TOP_ROLES.map((r) => {
      const { count, threshold } = options.keys[r];
      if (threshold < 1 || threshold > count) throw new OriginError('BAD_INPUT', `${r}: threshold ${threshold} with ${count} keys`);
      return [r, { keys: Array.from({ length: count }, () => generateKey(options.keyType)), threshold }];
    }),
  ) as Record<TopRole, { keys: SigningKey[]; threshold: number }>;
  const files = initialRepository(roles, targets, periodsOf(repository), now);

  const written: string[] = [];
  try {
    for (const r of TOP_ROLES) {
      roles[r].keys.forEach((k, i) => {
        const file = path.join(o.keysDir, `${r}-${i + 1}.pem`);
        writeKeyFile(file, k);
        written.push(file);
      });
    }
    fs.mkdirSync(path.dirname(repository.trustAnchor), { recursive: true });
    fs.writeFileSync(repository.trustAnchor, bytesOf(files, '1.root.json'), { flag: 'wx' });
    written.push(repository.trustAnchor);
    const generation = await publish(ctx, files, 'init');
    return { generation, keyFiles: written.filter((f) => f !== repository.trustAnchor), anchor: repository.trustAnchor };
  } catch (err) {
    for (const f of written) fs.rmSync(f, { force: true });
    throw err;
  }
}

/**
 * The online key's routine. Re-signs the timestamp when `force` (the schedule) or when less than
 * half its validity is left; the snapshot too when it would expire within a month or four
 * timestamp periods, whichever is longer; and targets within that margin when its keys are at
 * hand (a bridge that promotes automatically keeps its targets key online).
 */
export async function resignOrigin(ctx: OriginContext, options: { force?: boolean; now?: Date } = {}): Promise<GenerationRecord | undefined> {
  const now = options.now ?? new Date();
  const files = currentFiles(ctx.store, ctx.repository.name);
  const periods = periodsOf(ctx.repository);
  const { timestamp } = currentState(files);
  const left = Date.parse(timestamp.signed.expires) - now.getTime();
  if (!options.force && left > (periods.timestamp * 1000) / 2) return undefined;
  const online = [...readKeyDir(settings(ctx.repository).keysDir).values()];
  const margin = Math.max(30 * 86400, 4 * periods.timestamp);
  const { files: next, resigned } = resign(files, online, periods, now, margin);
  const generation = await publish(ctx, next, `resign ${resigned.join(', ')}`);
  ctx.logger.info({ repository: ctx.repository.name, generation: generation.id, timestamp: generation.timestampVersion, snapshot: generation.snapshotVersion }, 'origin re-signed');
  return generation;
}

export type KeyUpdate = {
  add?: Partial<TrustMaterial>;
  /** Give entries (matched by kind and URL) an end date: they stay, so old signatures still verify. */
  retire?: { kind: keyof Omit<TrustMaterial, 'oidcIssuers'>; url: string; end: string }[];
  operator: string;
  /** Where the targets keys are (offline keys brought back for this command). */
  keysDir: string;
  now?: Date;
};

export async function updateOriginKeys(ctx: OriginContext, update: KeyUpdate): Promise<{ generation: GenerationRecord; material: TrustMaterial }> {
  const now = update.now ?? new Date();
  const generation = servedGeneration(ctx.store, ctx.repository.name);
  // As TUF's search resolves each name in the served generation, checked against its signed hashes.
  const fileOf = (name: string) => ctx.store.resolvedTarget(generation.id, name)?.bytes;
  const trustedRoot = fileOf('trusted_root.json');
  if (!trustedRoot) throw new OriginError('NOT_INITIALIZED', `${ctx.repository.name} has no trusted_root.json target`);
  const material = parseTrustMaterial(trustedRoot, fileOf('signing_config.v0.2.json'));
  for (const kind of ['certificateAuthorities', 'tlogs', 'ctlogs', 'timestampAuthorities', 'oidcIssuers'] as const) {
    (material[kind] as unknown[]).push(...((update.add?.[kind] as unknown[] | undefined) ?? []));
  }
  for (const r of update.retire ?? []) {
    const entries = (material[r.kind] as { url: string; validFor: { start: string; end?: string } }[]).filter((e) => e.url === r.url && !e.validFor.end);
    if (!entries.length) throw new OriginError('BAD_INPUT', `no open-ended ${r.kind} entry with url ${r.url} to retire`);
    for (const e of entries) e.validFor = { ...e.validFor, end: r.end };
  }
  return { generation: await publishNewTargets(ctx, trustTargets(material, update.operator, now), update.keysDir, 'update-keys', now), material };
}

/**
 * A new targets version holding exactly `targets`, signed with the targets keys found in
 * `keysDir` (offline keys brought back) or the configured keysDir, then snapshot and timestamp.
 */
export async function publishNewTargets(ctx: OriginContext, targets: TargetFileSpec[], keysDir: string | undefined, reason: string, now: Date): Promise<GenerationRecord> {
  const files = currentFiles(ctx.store, ctx.repository.name);
  const configured = settings(ctx.repository).keysDir;
  const keys = [...readKeyDir(keysDir ?? configured).values(), ...readKeyDir(configured).values()];
  return publish(ctx, publishTargets(files, targets, keys, periodsOf(ctx.repository), now), reason);
}

/** Root N+1 with new keys for the replaced roles (written to keysDir), signed by every key at hand. */
export function prepareRootRotation(
  ctx: OriginContext,
  options: { replace: TopRole[]; thresholds: Partial<Record<TopRole, number>>; keysDir: string; keyType: KeyType; now?: Date },
): { pending: Metadata<Root>; newKeyFiles: string[]; signatures: number } {
  const files = currentFiles(ctx.store, ctx.repository.name);
  const { root } = currentState(files);
  const version = root.signed.version + 1;
  const replace: RootChange['replace'] = {};
  const newKeyFiles: string[] = [];
  for (const role of options.replace) {
    const count = Math.max(options.thresholds[role] ?? root.signed.roles[role].threshold, root.signed.roles[role].keyIDs.length);
    replace[role] = Array.from({ length: count }, (_, i) => {
      const key = generateKey(options.keyType);
      const file = path.join(options.keysDir, `${role}-v${version}-${i + 1}.pem`);
      writeKeyFile(file, key);
      newKeyFiles.push(file);
      return key;
    });
  }
  const pending = nextRoot(files, { replace, thresholds: options.thresholds }, periodsOf(ctx.repository), options.now ?? new Date());
  const signatures = signRoot(pending, root, [...readKeyDir(options.keysDir).values()]);
  return { pending, newKeyFiles, signatures };
}

export function readPendingRoot(file: string): Metadata<Root> {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    throw new OriginError('BAD_INPUT', `${file} is not a root metadata file: ${(err as Error).message}`);
  }
  try {
    return parseRoot(bytes, file);
  } catch (err) {
    if (err instanceof MetadataError) throw new OriginError('BAD_INPUT', err.message);
    throw err;
  }
}

/** `origin sign`: an offline signer adds its signature to a pending root. */
export function signPendingRoot(file: string, keyFile: string): { keyID: string; signatures: number } {
  const pending = readPendingRoot(file);
  const key = readKeyFile(keyFile);
  sign(pending, key);
  fs.writeFileSync(file, serialize(pending));
  return { keyID: key.keyID, signatures: Object.keys(pending.signatures).length };
}

/** `origin publish`: check both root thresholds, then publish N+1 and re-sign what its key changes require. */
export async function publishPendingRoot(ctx: OriginContext, pending: Metadata<Root>, keysDir: string, now: Date = new Date()): Promise<GenerationRecord> {
  const files = currentFiles(ctx.store, ctx.repository.name);
  const keys = [...readKeyDir(keysDir).values(), ...readKeyDir(settings(ctx.repository).keysDir).values()];
  const next = publishRoot(files, pending, keys, periodsOf(ctx.repository), now);
  return publish(ctx, next, `root v${pending.signed.version}`);
}
