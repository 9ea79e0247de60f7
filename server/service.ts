import type * as http from 'node:http';
import type { Config, RepositoryConfig } from '../config/config';
import { Daemon, type DaemonOptions } from '../daemon/daemon';
import type { Logger } from '../lib/log';
import { Store } from '../store/store';
import type { SyncResult } from '../sync/sync';
import type { Watcher } from '../watch/watcher';
import type { WebhookNotifier } from '../watch/webhooks';
import { createApp } from './app';
import { FileIndex } from './file-index';
import { loadListenerTls, Listeners, type RequestListeners } from './listeners';
import { refusal } from './http-errors';
import { createMetrics, type Metrics } from './metrics';
import { handleFileRequest } from './tuf-files';
import { VerificationGate } from './verification';

export type Service = {
  url: string;
  server: http.Server;
  /** The verification listener's URL, when verifier.listen gives it one. */
  verifierUrl?: string;
  store: Store;
  index: FileIndex;
  watcher: Watcher;
  notifier: WebhookNotifier;
  /** One sync of every repository, in config order, one attempt each. */
  syncAll(): Promise<SyncResult[]>;
  /** One sync of one repository, as the admin API runs it. */
  syncNow(repository: RepositoryConfig): Promise<SyncResult>;
  close(): Promise<void>;
};

export type ServiceOptions = DaemonOptions;

/** Open the store, serve what it holds at once, then keep it fresh and watched (daemon/). */
export async function startService(config: Config, logger: Logger, options: ServiceOptions = {}): Promise<Service> {
  const tls = loadListenerTls(config);
  const store = openStore(config);
  const index = new FileIndex(store, config.repositories, config.retention.servedGenerations);
  index.reload();
  const daemon = new Daemon({ config, store, logger, served: index }, options);
  const { watcher, notifier } = daemon;
  const metrics = createMetrics({ config, store, watcher, notifier });
  const app = createApp({ config, store, index, logger, watcher, metrics, syncNow: daemon.syncNow });
  const gate = new VerificationGate(config, index, store, logger);
  const listeners = new Listeners(config, tls, requestListeners(index, metrics, gate, app));
  try {
    await listeners.listen(logger);
  } catch (err) {
    await daemon.stop();
    listeners.server.close();
    await gate.close();
    store.close();
    throw err;
  }
  logServing(config, index, listeners, logger);
  const stopTlsWatches = listeners.watchTls(logger, options.reloadIntervalMs ?? 2000);
  daemon.start();

  let closing = false;
  return {
    url: listeners.url,
    server: listeners.server,
    ...(listeners.verifierUrl ? { verifierUrl: listeners.verifierUrl } : {}),
    store,
    index,
    watcher,
    notifier,
    syncAll: () => daemon.syncAll(),
    syncNow: daemon.syncNow,
    async close() {
      if (closing) return;
      closing = true;
      stopTlsWatches();
      await daemon.stop();
      await listeners.close();
      await gate.close();
      await daemon.settled();
      store.close();
    },
  };
}

/** The store, with a row for each configured repository. */
function openStore(config: Config): Store {
  const store = Store.open(config.dataDir);
  for (const r of config.repositories) store.ensureRepository(r.name, r.upstream);
  return store;
}

/** TUF files first (the fast path), then verification, then the app; the verification listener answers verification only. */
function requestListeners(index: FileIndex, metrics: Metrics, gate: VerificationGate, app: http.RequestListener): RequestListeners {
  return {
    public: (req, res) => {
      if (!handleFileRequest(req, res, index, metrics.observeFile) && !gate.handle(req, res, 'public')) app(req, res);
    },
    // Verification and admission only: nothing else is answered there.
    verification: (req, res) => {
      if (gate.handle(req, res, 'verification')) return;
      const { status, body } = refusal('NOT_FOUND', 'this listener serves /api/v1/verify* and /api/v1/admission* only');
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    },
  };
}

function logServing(config: Config, index: FileIndex, listeners: Listeners, logger: Logger): void {
  for (const r of config.repositories) {
    const generation = index.generationOf(r.name);
    logger.info({ repository: r.name, generation: generation ?? null }, generation ? 'serving held generation' : 'holds nothing yet; waiting for a successful sync');
  }
  logger.info({ url: listeners.url, host: config.server.host, port: listeners.port(), dataDir: config.dataDir, config: config.origin }, 'tuf-mirror listening');
}
