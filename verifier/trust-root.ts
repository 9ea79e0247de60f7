import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial, type KeyFinderFunc, type TrustMaterial } from '@sigstore/verify';
import { createHash } from 'node:crypto';

/** Where the trust material came from: named in every answer. */
export type TrustRootSource = {
  /** Mirrored repository name, or `file` for a trusted_root.json given on the command line. */
  repository: string;
  /** Generation of the repository it was read from (null: not from a mirrored repository). */
  generation: number | null;
  /** Timestamp metadata version of that generation (null: not from a mirrored repository). */
  timestampVersion: number | null;
  /** sha256 of the trusted_root.json bytes. */
  sha256: string;
};

/** A parsed trusted_root.json and where it came from. Plain data: no I/O here. */
export type TrustRoot = {
  source: TrustRootSource;
  trustedRoot: TrustedRoot;
  /** Trust material for @sigstore/verify (no managed keys). */
  material: TrustMaterial;
};

export class TrustRootError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrustRootError';
  }
}

/**
 * Parse trusted_root.json bytes. Refuses what @sigstore/verify 3 would silently accept: a
 * transparency log, CT log, CA or TSA whose `validFor` has no `start` (a time range open to the
 * past is not a time range; the conformance case trust-root-tlog-missing-validity-start_fail).
 */
export function parseTrustRoot(bytes: Buffer | string, source: Omit<TrustRootSource, 'sha256'>): TrustRoot {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString());
  } catch (err) {
    throw new TrustRootError(`trusted_root.json is not JSON: ${(err as Error).message}`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new TrustRootError('trusted_root.json is not a JSON object');
  const raw = json as Record<string, unknown>;
  for (const field of ['tlogs', 'ctlogs', 'certificateAuthorities', 'timestampAuthorities'] as const) {
    const list = raw[field];
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw new TrustRootError(`trusted_root.json: ${field} is not a list`);
    list.forEach((entry, i) => {
      const e = entry as { publicKey?: { validFor?: { start?: unknown } }; validFor?: { start?: unknown } };
      const validFor = field === 'tlogs' || field === 'ctlogs' ? e?.publicKey?.validFor : e?.validFor;
      if (!validFor || typeof validFor.start !== 'string') {
        throw new TrustRootError(`trusted_root.json: ${field}[${i}] has no validFor.start`);
      }
    });
  }
  let trustedRoot: TrustedRoot;
  let material: TrustMaterial;
  try {
    trustedRoot = TrustedRoot.fromJSON(json);
    material = toTrustMaterial(trustedRoot);
  } catch (err) {
    throw new TrustRootError(`trusted_root.json is not a Sigstore trusted root: ${(err as Error).message}`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return { source: { ...source, sha256 }, trustedRoot, material };
}

/** The same trust root plus managed keys (`--key`, `pubKey` policies) looked up by hint. */
export function withKeys(root: TrustRoot, keys: KeyFinderFunc): TrustMaterial {
  return toTrustMaterial(root.trustedRoot, keys);
}

/** The trust root of a mirrored repository's served generation. */
export type TrustRootProvider = (repository?: string) => TrustRoot;

export class NoTrustRootError extends Error {
  constructor(
    message: string,
    readonly code: 'UNKNOWN_REPOSITORY' | 'NO_GENERATION' | 'NO_TRUSTED_ROOT',
  ) {
    super(message);
    this.name = 'NoTrustRootError';
  }
}

/** What a provider needs from the mirror: the served generation id, and one consistent read of it. */
export type GenerationReader = {
  repositories: string[];
  defaultRepository?: string;
  generationOf(repository: string): number | undefined;
  /** trusted_root.json and the timestamp version of the repository's served generation, read together. */
  load(repository: string): { generation: number; timestampVersion: number; trustedRoot: Buffer | undefined } | undefined;
};

/**
 * Trust roots from served generations, parsed once per generation: when a repository switches
 * to a new generation, the next verification uses the new trusted_root.json.
 */
export function trustRootProvider(reader: GenerationReader): TrustRootProvider {
  const parsed = new Map<string, TrustRoot>();
  return (repository?: string) => {
    const name = repository ?? reader.defaultRepository;
    if (!name) throw new NoTrustRootError('no repository named and no default repository configured', 'UNKNOWN_REPOSITORY');
    if (!reader.repositories.includes(name)) throw new NoTrustRootError(`no repository named ${name}`, 'UNKNOWN_REPOSITORY');
    const cached = parsed.get(name);
    const current = reader.generationOf(name);
    if (cached && current !== undefined && cached.source.generation === current) return cached;
    const loaded = reader.load(name);
    if (!loaded) throw new NoTrustRootError(`repository ${name} holds no generation yet (run tuf-mirror sync)`, 'NO_GENERATION');
    if (!loaded.trustedRoot) {
      throw new NoTrustRootError(`no trusted_root.json target resolves in generation ${loaded.generation} of ${name}`, 'NO_TRUSTED_ROOT');
    }
    const root = parseTrustRoot(loaded.trustedRoot, { repository: name, generation: loaded.generation, timestampVersion: loaded.timestampVersion });
    parsed.set(name, root);
    return root;
  };
}

/** timestamp.json bytes → its version. */
export function timestampVersionOf(bytes: Buffer | undefined): number {
  if (!bytes) return -1;
  try {
    const v = (JSON.parse(bytes.toString()) as { signed?: { version?: unknown } }).signed?.version;
    return typeof v === 'number' ? v : -1;
  } catch {
    return -1;
  }
}
