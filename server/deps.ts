import type { Config, RepositoryConfig } from '../config/config';
import type { Logger } from '../lib/log';
import type { Store } from '../store/store';
import type { SyncResult } from '../sync/sync';
import type { Watcher } from '../watch/watcher';
import type { FileIndex } from './file-index';
import type { Metrics } from './metrics';

/** What the app and its routers are given (by server/service.ts), so no router imports app.ts back. */
export type AppDeps = {
  config: Config;
  store: Store;
  index: FileIndex;
  logger: Logger;
  watcher: Watcher;
  metrics: Metrics;
  syncNow: (repository: RepositoryConfig) => Promise<SyncResult>;
};
