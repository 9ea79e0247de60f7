import type { Config } from '../config/config';
import type { FileIndex } from '../server/file-index';
import type { Store } from '../store/store';
import { timestampVersionOf, trustRootProvider, type TrustRootProvider } from './trust-root';

export const TRUSTED_ROOT_PATH = 'targets/trusted_root.json';

/** Trust roots from the server's in-memory tree: the very bytes it serves, one generation at a time. */
export function trustRootsFromIndex(index: FileIndex, config: Config): TrustRootProvider {
  return trustRootProvider({
    repositories: config.repositories.map((r) => r.name),
    defaultRepository: index.defaultRepository,
    generationOf: (name) => index.generationOf(name),
    load: (name) => {
      const root = index.lookup(name, TRUSTED_ROOT_PATH);
      const timestamp = index.lookup(name, 'timestamp.json');
      const generation = timestamp?.generationId ?? index.generationOf(name);
      if (generation === undefined) return undefined;
      // Both files come from one tree, hence one generation.
      return { generation, timestampVersion: timestampVersionOf(timestamp?.body), trustedRoot: root?.body };
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
        return { generation: g.id, timestampVersion: g.timestampVersion, trustedRoot: store.currentFile(name, TRUSTED_ROOT_PATH) };
      })(),
  });
}
