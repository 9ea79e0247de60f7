/**
 * The one place trust/ reads the store: a served generation turned into plain data, once. Every
 * serializer takes this data and nothing else, so each is a pure function that tests can feed
 * with fixtures, and every output of one call comes from one generation.
 */
import { metadataPath } from '../lib/layout';
import { parseTrustedRoot, TrustedRootError, type ParsedTrustedRoot } from '../lib/trusted-root';
import { parseRoot } from '../lib/tuf-metadata';
import type { Store } from '../store/store';
import { TrustRootError } from './errors';

export type MetadataFile = { role: string; version: number; expires: string; bytes: Buffer };

export type TargetFile = {
  /** The target's name as metadata lists it, e.g. `trusted_root.json`, `registry.npmjs.org/keys.json`. */
  name: string;
  /** The role whose listing a client's search resolves the name to. */
  role: string;
  /** Every hash the listing signs, algorithm → hex: go-tuf picks one at random to build the path. */
  hashes: Record<string, string>;
  bytes: Buffer;
};

export type TrustMaterial = {
  repository: string;
  /** Which generation it all came from: every output names it. */
  generation: { id: number; createdAt: string };
  /** The newest root the generation holds: the one to hand out as a client's starting point. */
  root: MetadataFile;
  /** Whether the repository names files by version/hash (consistent snapshots) or by plain name. */
  consistentSnapshot: boolean;
  timestamp: MetadataFile;
  snapshot: MetadataFile;
  targets: MetadataFile;
  /** Delegated targets roles, in the order a client walks them. */
  delegated: MetadataFile[];
  /** Every target name that resolves in the generation (TUF's search), with its file, by name. */
  targetFiles: TargetFile[];
};

/** The repository's current generation as TrustMaterial; NO_GENERATION when nothing is held yet. */
export function loadTrustMaterial(store: Store, repository: string): TrustMaterial {
  const generation = store.currentGeneration(repository);
  if (!generation) {
    throw new TrustRootError('NO_GENERATION', `repository ${repository} holds no verified generation yet: run \`tuf-mirror sync ${repository}\` and read its error`);
  }
  const { read } = store.generationReader(generation);

  const roles = generation.summary.roles;
  const meta = (role: string): MetadataFile => {
    const r = roles.find((x) => x.role === role);
    if (!r) throw new Error(`generation ${generation.id} of ${repository} has no ${role} role`);
    // timestamp.json is never versioned; the others are held under both names.
    return { role, version: r.version, expires: r.expires, bytes: read(role === 'timestamp' ? metadataPath(role) : metadataPath(role, r.version)) };
  };

  const root = meta('root');
  const rootSigned = parseRoot(root.bytes, metadataPath('root', root.version)).signed;
  const targets = meta('targets');
  const delegated = roles.filter((r) => !['root', 'timestamp', 'snapshot', 'targets'].includes(r.role)).map((r) => meta(r.role));

  // Target files: each name as a client's search resolves it, with bytes checked against every
  // hash its role signed (never a file read by its plain path, which a role could have claimed).
  const targetFiles: TargetFile[] = store.resolvedTargets(generation.id).map(({ name }) => {
    const resolved = store.resolvedTarget(generation.id, name);
    if (!resolved) throw new Error(`generation ${generation.id} of ${repository} lost target ${name}`);
    return { name, role: resolved.info.role, hashes: { ...resolved.info.hashes }, bytes: resolved.bytes };
  });

  return {
    repository,
    generation: { id: generation.id, createdAt: generation.createdAt },
    root,
    consistentSnapshot: rootSigned.consistentSnapshot,
    timestamp: meta('timestamp'),
    snapshot: meta('snapshot'),
    targets,
    delegated,
    targetFiles,
  };
}

/** The target a format is built from, or TARGET_MISSING naming what the repository has. */
export function requireTarget(material: TrustMaterial, name: string): TargetFile {
  const t = material.targetFiles.find((x) => x.name === name);
  if (!t) {
    throw new TrustRootError(
      'TARGET_MISSING',
      `repository ${material.repository} (generation ${material.generation.id}) has no target ${name}; it has: ${material.targetFiles.map((x) => x.name).join(', ') || 'none'}`,
    );
  }
  return t;
}

/** "sigstore generation 1 (root v15, timestamp v762)": how every output names its source. */
export function describeSource(m: TrustMaterial): string {
  return `${m.repository} generation ${m.generation.id} (root v${m.root.version}, timestamp v${m.timestamp.version})`;
}

/** A target read as trusted_root.json; TARGET_INVALID when it is not one. */
export function readTrustedRoot(target: TargetFile): ParsedTrustedRoot {
  try {
    return parseTrustedRoot(target.bytes, target.name);
  } catch (err) {
    if (err instanceof TrustedRootError) throw new TrustRootError('TARGET_INVALID', err.message, { cause: err });
    throw err;
  }
}
