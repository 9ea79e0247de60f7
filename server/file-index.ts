import type { RepositoryConfig } from '../config/config';
import { contentType, isVersionedPath } from '../lib/layout';
import type { Store } from '../store/store';

export type ServedFile = {
  body: Buffer;
  /** Quoted sha256 of the body: strong, and the same on every replica. */
  etag: string;
  contentType: string;
  cacheControl: string;
  generationId: number;
};

type Tree = { generationId: number; files: Map<string, ServedFile> };

// Versioned files never change; unversioned ones (timestamp.json above all) change daily upstream.
const IMMUTABLE = 'public, max-age=31536000, immutable';
const SHORT = 'public, max-age=60, must-revalidate';

/**
 * What the server answers with, held in memory: one immutable tree per repository, replaced
 * whole when the store's current generation changes. A request reads one tree reference, so it
 * sees one generation, never a mix.
 */
export class FileIndex {
  private trees = new Map<string, Tree>();
  readonly defaultRepository?: string;
  private readonly names: Set<string>;

  constructor(
    private readonly store: Store,
    repositories: RepositoryConfig[],
    private readonly servedGenerations: number,
  ) {
    this.names = new Set(repositories.map((r) => r.name));
    this.defaultRepository = repositories.find((r) => r.default)?.name;
  }

  hasRepository(name: string): boolean {
    return this.names.has(name);
  }

  /** The generation each repository is served from (undefined: holds nothing yet). */
  generationOf(name: string): number | undefined {
    return this.trees.get(name)?.generationId;
  }

  lookup(repository: string, path: string): ServedFile | undefined {
    return this.trees.get(repository)?.files.get(path);
  }

  /** Pick up generations committed since the last call (by this process or another). Returns the repositories that switched. */
  reload(): string[] {
    const switched: string[] = [];
    for (const [name, id] of this.store.currentGenerationIds()) {
      if (!this.names.has(name) || id === null || this.trees.get(name)?.generationId === id) continue;
      const tree = this.build(name);
      if (tree) {
        this.trees.set(name, tree);
        switched.push(name);
      }
    }
    return switched;
  }

  private build(name: string): Tree | undefined {
    const set = this.store.servedSet(name, this.servedGenerations);
    if (!set) return undefined;
    const previous = this.trees.get(name);
    const bodies = new Map<string, Buffer>();
    for (const f of previous?.files.values() ?? []) bodies.set(f.etag, f.body);
    const files = new Map<string, ServedFile>();
    for (const [path, sha] of set.files) {
      const etag = `"${sha}"`;
      let body = bodies.get(etag);
      if (!body) {
        body = this.store.blob(sha);
        if (!body) throw new Error(`store is missing blob ${sha} for ${name}/${path}`);
        bodies.set(etag, body);
      }
      files.set(path, {
        body,
        etag,
        contentType: contentType(path),
        cacheControl: isVersionedPath(path) ? IMMUTABLE : SHORT,
        generationId: set.generationId,
      });
    }
    return { generationId: set.generationId, files };
  }
}
