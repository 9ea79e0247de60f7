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

/** A file as held, shared by every generation that serves it; its headers' text made once. */
type Served = Omit<ServedFile, 'generationId'> & { contentLength: string };

/**
 * One repository's files in memory: its current generation's head (timestamp.json) and body,
 * and the versioned files of the generations before it that the body does not hold. A path of
 * the body is counted once per block that holds it (two targets may share a file).
 */
type Tree = {
  generationId: number;
  /** generationId as the X-TUF-Mirror-Generation header says it. */
  generationHeader: string;
  head: Map<string, Served>;
  bodyBlocks: Set<number>;
  body: Map<string, { file: Served; blocks: number }>;
  older: Map<string, Served>;
};

// Versioned files never change; unversioned ones (timestamp.json above all) change daily upstream.
const IMMUTABLE = 'public, max-age=31536000, immutable';
const SHORT = 'public, max-age=60, must-revalidate';

/**
 * What the server answers with, held in memory per repository. A new generation changes only
 * what differs from the one served: blocks it shares are kept as they are, so a timestamp-only
 * generation costs one file whatever the repository holds. Everything the switch needs (block
 * lists, new bodies) is read first; the tree is then changed in one synchronous step, so a
 * request, answered synchronously from one lookup, sees one generation, never a mix, and a
 * switch that fails half-way changes nothing.
 */
export class FileIndex {
  private trees = new Map<string, Tree>();
  /** Files of the blocks the trees use, by block id. */
  private blockFiles = new Map<number, [string, string][]>();
  /** Bodies by sha256, with how many paths of any tree use each. */
  private bodies = new Map<string, { body: Buffer; uses: number }>();
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
    const tree = this.trees.get(repository);
    const file = tree && held(tree, path);
    return file && { ...file, generationId: tree.generationId };
  }

  /**
   * The serve path's lookup: the generation a repository is served from, as header text
   * (undefined: holds nothing yet), and a file of it as held, nothing copied. Both in the same
   * synchronous step see the same generation: a switch is one synchronous step too.
   */
  generationHeaderOf(repository: string): string | undefined {
    return this.trees.get(repository)?.generationHeader;
  }

  held(repository: string, path: string): Served | undefined {
    const tree = this.trees.get(repository);
    return tree && held(tree, path);
  }

  /** Pick up generations committed since the last call (by this process or another). Returns the repositories that switched. */
  reload(): string[] {
    const switched: string[] = [];
    for (const [name, id] of this.store.currentGenerationIds()) {
      if (!this.names.has(name) || id === null || this.trees.get(name)?.generationId === id) continue;
      if (this.switchTo(name)) switched.push(name);
    }
    return switched;
  }

  private switchTo(name: string): boolean {
    const layout = this.store.servedLayout(name, this.servedGenerations);
    if (!layout) return false;
    const tree: Tree = this.trees.get(name) ?? {
      generationId: layout.generationId,
      generationHeader: String(layout.generationId),
      head: new Map(),
      bodyBlocks: new Set<number>(),
      body: new Map(),
      older: new Map(),
    };
    const body = new Set(layout.body);
    const added = layout.body.filter((id) => !tree.bodyBlocks.has(id));
    const removed = [...tree.bodyBlocks].filter((id) => !body.has(id));
    const head = layout.headBlockId === null ? [] : [layout.headBlockId];

    // Read everything first: block lists and the bodies not held yet (a missing blob throws here).
    const files = new Map<number, [string, string][]>();
    for (const id of [...added, ...head, ...layout.older]) files.set(id, this.blockFiles.get(id) ?? this.store.blockFiles(id));
    const newBodies = new Map<string, Buffer>();
    for (const [id, list] of files) {
      for (const [path, sha] of list) {
        if (!body.has(id) && !head.includes(id) && !isVersionedPath(path)) continue; // older blocks: versioned files only
        if (this.bodies.has(sha) || newBodies.has(sha)) continue;
        const bytes = this.store.blob(sha);
        if (!bytes) throw new Error(`store is missing blob ${sha} for ${name}/${path}`);
        newBodies.set(sha, bytes);
      }
    }

    // Then switch, synchronously.
    for (const [sha, bytes] of newBodies) this.bodies.set(sha, { body: bytes, uses: 0 });
    const released: string[] = [];
    const release = (file: Served): void => {
      released.push(file.etag.slice(1, -1));
    };
    for (const id of removed) {
      for (const [path] of this.blockFiles.get(id) ?? []) {
        const entry = tree.body.get(path);
        if (!entry) continue;
        if (--entry.blocks === 0) {
          tree.body.delete(path);
          release(entry.file);
        }
      }
      tree.bodyBlocks.delete(id);
    }
    for (const id of added) {
      for (const [path, sha] of files.get(id) ?? []) {
        const entry = tree.body.get(path);
        if (entry?.file.etag === `"${sha}"`) entry.blocks++;
        else {
          if (entry) release(entry.file);
          tree.body.set(path, { file: this.served(path, sha), blocks: 1 });
        }
      }
      tree.bodyBlocks.add(id);
    }
    tree.head.forEach(release);
    tree.head = new Map(head.flatMap((id) => files.get(id) ?? []).map(([path, sha]) => [path, this.served(path, sha)]));
    tree.older.forEach(release);
    tree.older = new Map();
    for (const id of layout.older) {
      for (const [path, sha] of files.get(id) ?? []) {
        if (isVersionedPath(path) && !tree.body.has(path) && !tree.head.has(path) && !tree.older.has(path)) tree.older.set(path, this.served(path, sha));
      }
    }
    tree.generationId = layout.generationId;
    tree.generationHeader = String(layout.generationId);
    this.trees.set(name, tree);

    for (const sha of released) {
      const held = this.bodies.get(sha);
      if (held && --held.uses <= 0) this.bodies.delete(sha);
    }
    for (const sha of newBodies.keys()) if ((this.bodies.get(sha)?.uses ?? 0) === 0) this.bodies.delete(sha);
    // Keep the file lists of the blocks some tree still uses (a later switch removes them by these).
    for (const [id, list] of files) this.blockFiles.set(id, list);
    const used = new Set<number>();
    for (const t of this.trees.values()) t.bodyBlocks.forEach((id) => used.add(id));
    for (const id of this.blockFiles.keys()) if (!used.has(id)) this.blockFiles.delete(id);
    return true;
  }

  /** A served file (the body must be held), counted as one more use of its body. */
  private served(path: string, sha: string): Served {
    const held = this.bodies.get(sha);
    if (!held) throw new Error(`no body held for ${sha}`);
    held.uses++;
    return {
      body: held.body,
      etag: `"${sha}"`,
      contentType: contentType(path),
      cacheControl: isVersionedPath(path) ? IMMUTABLE : SHORT,
      contentLength: String(held.body.length),
    };
  }
}

function held(tree: Tree, path: string): Served | undefined {
  return tree.head.get(path) ?? tree.body.get(path)?.file ?? tree.older.get(path);
}
