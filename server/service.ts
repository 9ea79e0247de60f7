import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { ConfigError } from '../config/config';
import type { AddressInfo } from 'node:net';
import type { Config, RepositoryConfig } from '../config/config';
import type { Logger } from '../lib/log';
import { Store } from '../store/store';
import { SyncScheduler } from '../sync/scheduler';
import { configuredSyncOptions, syncRepository, type SyncResult } from '../sync/sync';
import { Watcher } from '../watch/watcher';
import { resignOrigin } from '../origin/origin';
import { WebhookNotifier } from '../watch/webhooks';
import { createApp } from './app';
import { FileIndex } from './file-index';
import { createMetrics } from './metrics';
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

export type ServiceOptions = {
  /** How often to look for generations committed by another process (a CLI sync). */
  reloadIntervalMs?: number;
  /** Run the cron schedules (tests drive syncs themselves). Default true. */
  schedule?: boolean;
  /** Override alerts.evaluateEverySeconds (tests). */
  evaluateIntervalMs?: number;
  /** Webhook delivery tuning (tests). */
  webhooks?: ConstructorParameters<typeof WebhookNotifier>[2];
};

/** Certificate and key of a listener (`field` names it in errors: server.tls, verifier.listen.tls). */
function readTls(files: { certFile: string; keyFile: string }, field = 'server.tls'): https.ServerOptions {
  let options: https.ServerOptions;
  try {
    options = { cert: fs.readFileSync(files.certFile), key: fs.readFileSync(files.keyFile) };
  } catch (err) {
    throw new ConfigError(`${field}: cannot read ${(err as NodeJS.ErrnoException).path ?? ''}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  try {
    tls.createSecureContext(options); // a key that does not match the certificate fails here, clearly
  } catch (err) {
    throw new ConfigError(`${field}: ${files.certFile} / ${files.keyFile}: ${(err as Error).message}`);
  }
  return options;
}

/** Listen, and the URL a client on this host reaches the listener at. */
async function listen(server: http.Server, port: number, host: string, secure: boolean): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${secure ? 'https' : 'http'}://${shown === '0.0.0.0' || shown === '[::]' ? '127.0.0.1' : shown}:${address.port}`;
}

/** Open the store, serve what it holds at once, then keep it fresh and watched. */
export async function startService(config: Config, logger: Logger, options: ServiceOptions = {}): Promise<Service> {
  // Before anything is opened: a bad certificate stops the start cleanly.
  const tlsOptions = config.server.tls && readTls(config.server.tls);
  const verifyListen = config.verifier.listen;
  const verifyTls = verifyListen?.tls && readTls(verifyListen.tls, 'verifier.listen.tls');
  const store = Store.open(config.dataDir);
  for (const r of config.repositories) store.ensureRepository(r.name, r.upstream);
  const index = new FileIndex(store, config.repositories, config.retention.servedGenerations);
  index.reload();
  const notifier = new WebhookNotifier(config.alerts.webhooks, logger, options.webhooks);
  const watcher = new Watcher(store, config, logger, notifier);
  const metrics = createMetrics({ config, store, watcher, notifier });
  const shutdown = new AbortController();

  function reload(): void {
    try {
      for (const name of index.reload()) {
        logger.info({ repository: name, generation: index.generationOf(name) }, 'now serving generation');
        const repository = config.repositories.find((r) => r.name === name)!;
        watcher.watch(repository);
      }
    } catch (err) {
      logger.error({ err }, 'reloading the served generation failed; still serving the previous one');
    }
  }

  async function syncNow(repository: RepositoryConfig): Promise<SyncResult> {
    const result = await syncRepository({ store, repository, logger, ...configuredSyncOptions(config), signal: shutdown.signal });
    if (result.outcome === 'failed' && (result.error.code === 'UPSTREAM_UNREACHABLE' || result.error.code === 'UPSTREAM_TIMEOUT')) {
      const generation = index.generationOf(repository.name);
      logger.error(
        { repository: repository.name, upstream: result.error.message, generation: generation ?? null },
        `upstream unreachable: ${generation ? 'serving the held generation' : 'nothing to serve until a sync succeeds'}`,
      );
    }
    reload();
    watcher.watch(repository);
    return result;
  }

  /** Origins are signed here, not synced: re-sign (forced on schedule, else only when due). */
  async function resignNow(repository: RepositoryConfig, force = false): Promise<void> {
    try {
      if (await resignOrigin({ store, repository, logger }, { force })) reload();
    } catch (err) {
      logger.error({ repository: repository.name, err: (err as Error).message }, 're-signing failed; the current generation is still served');
    }
    watcher.watch(repository);
  }
  const mirrors = config.repositories.filter((r) => r.kind !== 'origin');
  const origins = config.repositories.filter((r) => r.kind === 'origin');

  async function syncAll(): Promise<SyncResult[]> {
    const results: SyncResult[] = [];
    for (const repository of mirrors) {
      if (shutdown.signal.aborted) break;
      results.push(await syncNow(repository));
    }
    return results;
  }

  const app = createApp({ config, store, index, logger, watcher, metrics, syncNow });
  const gate = new VerificationGate(config, index, store, logger);
  const handler: http.RequestListener = (req, res) => {
    if (!handleFileRequest(req, res, index, metrics.observeFile) && !gate.handle(req, res, 'public')) app(req, res);
  };
  const server = tlsOptions ? https.createServer(tlsOptions, handler) : http.createServer(handler);
  server.keepAliveTimeout = 65_000;
  // Verification and admission only: nothing else is answered there.
  const verifyHandler: http.RequestListener = (req, res) => {
    if (gate.handle(req, res, 'verification')) return;
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'this listener serves /api/v1/verify* and /api/v1/admission* only' } }));
  };
  const verifyServer = verifyListen && (verifyTls ? https.createServer(verifyTls, verifyHandler) : http.createServer(verifyHandler));

  let url: string;
  let verifierUrl: string | undefined;
  try {
    url = await listen(server, config.server.port, config.server.host, Boolean(tlsOptions));
    if (verifyServer && verifyListen) {
      verifierUrl = await listen(verifyServer, verifyListen.port, verifyListen.host, Boolean(verifyTls));
      logger.info({ url: verifierUrl, host: verifyListen.host, tls: Boolean(verifyTls) }, 'verification listening');
    }
  } catch (err) {
    server.close();
    await gate.close();
    store.close();
    throw err;
  }
  const address = server.address() as AddressInfo;

  for (const r of config.repositories) {
    const generation = index.generationOf(r.name);
    logger.info({ repository: r.name, generation: generation ?? null }, generation ? 'serving held generation' : 'holds nothing yet; waiting for a successful sync');
  }
  logger.info({ url, host: config.server.host, port: address.port, dataDir: config.dataDir, config: config.origin }, 'tuf-mirror listening');

  const timers = [
    setInterval(reload, options.reloadIntervalMs ?? 2000),
    // Expiry moves with the clock, not only with syncs. An origin whose timestamp is past half its
    // life is re-signed here too, so a missed cron tick (the service was down) cannot let it lapse.
    setInterval(() => {
      mirrors.forEach((r) => watcher.watch(r));
      origins.forEach((r) => void resignNow(r));
    }, options.evaluateIntervalMs ?? config.alerts.evaluateEverySeconds * 1000),
  ];
  timers.forEach((t) => t.unref());
  // What is held is judged at once; a repository holding nothing yet is judged after its first
  // sync attempt (or the first periodic check), not in the second before that attempt.
  config.repositories.filter((r) => index.generationOf(r.name) !== undefined).forEach((r) => watcher.watch(r));

  const scheduler = new SyncScheduler(config, syncNow, logger, shutdown.signal, (r) => resignNow(r, true));
  if (options.schedule ?? true) scheduler.start();
  const initialSync = config.sync.onStart
    ? (async () => {
        for (const r of origins) await resignNow(r);
        for (const r of mirrors) await scheduler.runWithRetries(r);
      })().catch((err) => logger.error({ err }, 'initial sync failed'))
    : Promise.resolve();

  let closing = false;
  return {
    url,
    server,
    ...(verifierUrl ? { verifierUrl } : {}),
    store,
    index,
    watcher,
    notifier,
    syncAll,
    syncNow,
    async close() {
      if (closing) return;
      closing = true;
      timers.forEach((t) => clearInterval(t));
      shutdown.abort();
      notifier.stop();
      await scheduler.stop();
      await Promise.all(
        [server, verifyServer].map(
          (srv) =>
            srv &&
            new Promise<void>((resolve) => {
              srv.close(() => resolve());
              srv.closeAllConnections();
            }),
        ),
      );
      await gate.close();
      await initialSync;
      store.close();
    },
  };
}
