import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config/config';
import type { Logger } from '../lib/log';
import { Store } from '../store/store';
import { configuredSyncOptions, syncRepository, type SyncResult } from '../sync/sync';
import { createApp } from './app';
import { FileIndex } from './file-index';
import { handleFileRequest } from './tuf-files';

export type Service = {
  url: string;
  server: http.Server;
  store: Store;
  index: FileIndex;
  /** One sync of every repository, in config order. */
  syncAll(): Promise<SyncResult[]>;
  close(): Promise<void>;
};

export type ServiceOptions = {
  /** How often to look for generations committed by another process (a CLI sync). */
  reloadIntervalMs?: number;
};

/** Open the store, serve what it holds at once, then sync in the background if configured. */
export async function startService(config: Config, logger: Logger, options: ServiceOptions = {}): Promise<Service> {
  const store = Store.open(config.dataDir);
  for (const r of config.repositories) store.ensureRepository(r.name, r.upstream);
  const index = new FileIndex(store, config.repositories, config.retention.servedGenerations);
  index.reload();

  const app = createApp({ config, store, index, logger });
  const server = http.createServer((req, res) => {
    if (!handleFileRequest(req, res, index)) app(req, res);
  });
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.server.port, config.server.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;

  for (const r of config.repositories) {
    const generation = index.generationOf(r.name);
    logger.info({ repository: r.name, generation: generation ?? null }, generation ? 'serving held generation' : 'holds nothing yet; waiting for a successful sync');
  }
  logger.info({ url, host: config.server.host, port: address.port, dataDir: config.dataDir, config: config.origin }, 'tuf-mirror listening');

  const reloadTimer = setInterval(() => reload(), options.reloadIntervalMs ?? 2000);
  reloadTimer.unref();
  function reload(): void {
    try {
      for (const name of index.reload()) logger.info({ repository: name, generation: index.generationOf(name) }, 'now serving generation');
    } catch (err) {
      logger.error({ err }, 'reloading the served generation failed; still serving the previous one');
    }
  }

  const shutdown = new AbortController();
  async function syncAll(): Promise<SyncResult[]> {
    const results: SyncResult[] = [];
    for (const repository of config.repositories) {
      if (shutdown.signal.aborted) break;
      const result = await syncRepository({
        store,
        repository,
        logger,
        ...configuredSyncOptions(config),
        signal: shutdown.signal,
      });
      if (result.outcome === 'failed' && (result.error.code === 'UPSTREAM_UNREACHABLE' || result.error.code === 'UPSTREAM_TIMEOUT')) {
        logger.error(
          { repository: repository.name, upstream: result.error.message, generation: index.generationOf(repository.name) ?? null },
          `upstream unreachable: ${index.generationOf(repository.name) ? 'serving the held generation' : 'nothing to serve until a sync succeeds'}`,
        );
      }
      results.push(result);
      reload();
    }
    return results;
  }

  let closing = false;
  const initialSync = config.sync.onStart ? syncAll().catch((err) => logger.error({ err }, 'initial sync failed')) : Promise.resolve();

  return {
    url,
    server,
    store,
    index,
    syncAll,
    async close() {
      if (closing) return;
      closing = true;
      clearInterval(reloadTimer);
      shutdown.abort();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await initialSync;
      store.close();
    },
  };
}
