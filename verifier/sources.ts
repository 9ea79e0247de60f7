import type { Config } from '../config/config';
import type { FileIndex } from '../server/file-index';
import type { Store } from '../store/store';
import { timestampVersionOf, trustRootProvider, type TrustRootProvider } from './trust-root';

/** The target holding the trusted root, read as TUF's search resolves it in a generation (never by its plain path). */
export const TRUSTED_ROOT_TARGET = 'trusted_root.json';

/** Trust roots of the generations the server serves, one generation at a time. */
export function trustRootsFromIndex(index: FileIndex, store: Store, config: Config): TrustRootProvider {
  return trustRootProvider({
    repositories: config.repositories.map((r) => r.name),
    defaultRepository: index.defaultRepository,
    generationOf: (name) => index.generationOf(name),
    load: (name) => {
      const timestamp = index.lookup(name, 'timestamp.json');
      const generation = timestamp?.generationId ?? index.generationOf(name);
      if (generation === undefined) return undefined;
      // The timestamp from the served tree, the trusted root resolved in that tree's generation.
      return { generation, timestampVersion: timestampVersionOf(timestamp?.body), trustedRoot: store.resolvedTarget(generation, TRUSTED_ROOT_TARGET)?.bytes };
    },
  });
}

/** Trust roots straight from the store (CLI): the current generation, read in one transaction. */
export function trustRootsFromStore(store: Store, config: Config): TrustRootProvider {
  return trustRootProvider({
    repositories: config.repositories.map((r) => r.name),
    defaultRepository: config.repositories.find((r) => r.default)?.name,
    generationOf: (name) => store.currentGeneration(name)?.id,
    load: (name) =>
      store.db.transaction(() => {
        const g = store.currentGeneration(name);
        if (!g) return undefined;
        return { generation: g.id, timestampVersion: g.timestampVersion, trustedRoot: store.resolvedTarget(g.id, TRUSTED_ROOT_TARGET)?.bytes };
      })(),
  });
}
