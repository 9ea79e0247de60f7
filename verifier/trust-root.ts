import type { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial, type KeyFinderFunc, type TrustMaterial } from '@sigstore/verify';
import { createHash } from 'node:crypto';
import { parseTrustedRoot, TrustedRootError } from '../lib/trusted-root';
import { TrustRootError } from '../lib/errors';
import { parseTimestamp } from '../lib/tuf-metadata';
import { NoTrustRootError } from './errors';

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

export { TrustRootError } from '../lib/errors';
export { NoTrustRootError } from './errors';

/**
 * Parse trusted_root.json bytes (lib/trusted-root.ts says what it refuses beyond what
 * @sigstore/verify 3 would, e.g. a window without a start) and build @sigstore/verify's material.
 */
export function parseTrustRoot(bytes: Buffer | string, source: Omit<TrustRootSource, 'sha256'>): TrustRoot {
  let trustedRoot: TrustedRoot;
  try {
    trustedRoot = parseTrustedRoot(bytes).trustedRoot;
  } catch (err) {
    if (err instanceof TrustedRootError) throw new TrustRootError('BAD_TRUSTED_ROOT', err.message, { cause: err });
    throw err;
  }
  let material: TrustMaterial;
  try {
    material = toTrustMaterial(trustedRoot);
  } catch (err) {
    throw new TrustRootError('BAD_TRUSTED_ROOT', `trusted_root.json is not a Sigstore trusted root: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
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
    if (!name) throw new NoTrustRootError('UNKNOWN_REPOSITORY', 'no repository named and no default repository configured');
    if (!reader.repositories.includes(name)) throw new NoTrustRootError('UNKNOWN_REPOSITORY', `no repository named ${name}`);
    const cached = parsed.get(name);
    const current = reader.generationOf(name);
    if (cached && current !== undefined && cached.source.generation === current) return cached;
    const loaded = reader.load(name);
    if (!loaded) throw new NoTrustRootError('NO_GENERATION', `repository ${name} holds no generation yet (run tuf-mirror sync)`);
    if (!loaded.trustedRoot) {
      throw new NoTrustRootError('NO_TRUSTED_ROOT', `no trusted_root.json target resolves in generation ${loaded.generation} of ${name}`);
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
    return parseTimestamp(bytes).signed.version;
  } catch {
    return -1;
  }
}
