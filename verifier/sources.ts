import type { Config } from '../config/config';
import type { Store } from '../store/store';
import { trustRootProvider, type TrustRootProvider } from './trust-root';

/** The target holding the trusted root, read as TUF's search resolves it in a generation (never by its plain path). */
export const TRUSTED_ROOT_TARGET = 'trusted_root.json';

/** Trust roots straight from the store (CLI): the current generation, read in one transaction. */
export function trustRootsFromStore(store: Store, config: Config): TrustRootProvider {
  return trustRootProvider({
    repositories: config.repositories.map((r) => r.name),
    defaultRepository: config.repositories.find((r) => r.default)?.name,
    generationOf: (name) => store.currentGeneration(name)?.id,
    load: (name) =>
      store.readConsistently(() => {
        const g = store.currentGeneration(name);
        if (!g) return undefined;
        return { generation: g.id, timestampVersion: g.timestampVersion, trustedRoot: store.resolvedTarget(g.id, TRUSTED_ROOT_TARGET)?.bytes };
      }),
  });
}
