import * as http from 'node:http';
import * as https from 'node:https';
import { ConfigError, isSignedHere } from '../config/config';
import { bridgeContext, tickBridge } from '../bridge/bridge';
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
import { loadTls, watchTls } from './tls';
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

/** Listen, and the URL a client on this host reaches the listener at. */
async function listen(server: http.Server, port: number, host: string, secure: boolean): Promise<string> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    throw cannotListen(host, port, err);
  }
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${secure ? 'https' : 'http'}://${shown === '0.0.0.0' || shown === '[::]' ? '127.0.0.1' : shown}:${address.port}`;
}

/** Open the store, serve what it holds at once, then keep it fresh and watched. */
export async function startService(config: Config, logger: Logger, options: ServiceOptions = {}): Promise<Service> {
  // Before anything is opened: a bad certificate stops the start cleanly.
  const tlsOptions = config.server.tls && loadTls(config.server.tls);
  const verifyListen = config.verifier.listen;
  const verifyTls = verifyListen?.tls && loadTls(verifyListen.tls, 'verifier.listen.tls');
  const store = Store.open(config.dataDir);
  for (const r of config.repositories) store.ensureRepository(r.name, r.upstream);
  const index = new FileIndex(store, config.repositories, config.retention.servedGenerations);
  index.reload();
  const notifier = new WebhookNotifier(config.alerts.webhooks, logger, options.webhooks);
  const watcher = new Watcher(store, config, logger, notifier);
  const metrics = createMetrics({ config, store, watcher, notifier });
  const shutdown = new AbortController();
  // Syncs and re-signings under way, whoever started them (schedule, start-up, admin API): close()
  // waits for them, so a cancelled sync records its run and releases its lock before the store closes.
  const underway = new Set<Promise<unknown>>();
  const tracked = <T>(work: Promise<T>): Promise<T> => {
    underway.add(work);
    work.then(
      () => underway.delete(work),
      () => underway.delete(work),
    );
    return work;
  };

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

  const syncNow = (repository: RepositoryConfig): Promise<SyncResult> => tracked(syncOnce(repository));
  async function syncOnce(repository: RepositoryConfig): Promise<SyncResult> {
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
    if (result.outcome === 'updated') for (const b of bridgesOf(repository.name)) await bridgeNow(b);
    return result;
  }

  // One publication at a time per repository signed here: re-signing and a bridge's promotion
  // both publish through a sync of that repository, which refuses to run twice at once.
  const publishing = new Map<string, Promise<unknown>>();
  function serialized<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const run = (publishing.get(name) ?? Promise.resolve()).then(fn, fn);
    publishing.set(name, run.catch(() => undefined));
    return tracked(run);
  }

  /** Origins and bridges are signed here, not synced: re-sign (forced on schedule, else only when due). */
  function resignNow(repository: RepositoryConfig, force = false): Promise<void> {
    return serialized(repository.name, async () => {
      try {
        if (await resignOrigin({ store, repository, logger }, { force })) reload();
      } catch (err) {
        logger.error({ repository: repository.name, err: (err as Error).message }, 're-signing failed; the current generation is still served');
      }
      watcher.watch(repository);
    });
  }

  /** A bridge looks at its source's verified generation; with promote: auto it promotes what passes the gate. */
  function bridgeNow(repository: RepositoryConfig): Promise<void> {
    return serialized(repository.name, async () => {
      if (!store.currentGeneration(repository.name)) return; // not initialized yet: tuf-mirror bridge init
      try {
        const decision = await tickBridge(bridgeContext(config, store, repository, logger));
        if (decision.outcome === 'promoted') reload();
      } catch (err) {
        logger.error({ repository: repository.name, err: (err as Error).message }, 'bridge check failed; the promoted content is still served');
      }
      watcher.watch(repository);
    });
  }
  const mirrors = config.repositories.filter((r) => !isSignedHere(r));
  const signed = config.repositories.filter((r) => isSignedHere(r));
  const bridges = config.repositories.filter((r) => r.kind === 'bridge');
  const bridgesOf = (source: string) => bridges.filter((b) => b.bridge?.source === source);

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
    shutdown.abort();
    notifier.stop();
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

  const tlsWatchMs = options.reloadIntervalMs ?? 2000;
  const stopTlsWatches = [
    config.server.tls && server instanceof https.Server ? watchTls(server, config.server.tls, logger, tlsWatchMs) : undefined,
    verifyListen?.tls && verifyServer instanceof https.Server ? watchTls(verifyServer, verifyListen.tls, logger, tlsWatchMs, 'verifier.listen.tls') : undefined,
  ];
  const timers = [
    setInterval(reload, options.reloadIntervalMs ?? 2000),
    // Expiry moves with the clock, not only with syncs. An origin whose timestamp is past half its
    // life is re-signed here too, so a missed cron tick (the service was down) cannot let it lapse.
    setInterval(() => {
      mirrors.forEach((r) => watcher.watch(r));
      signed.forEach((r) => void resignNow(r));
      bridges.forEach((r) => void bridgeNow(r));
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
        for (const r of signed) await resignNow(r);
        for (const r of mirrors) await scheduler.runWithRetries(r);
        for (const r of bridges) await bridgeNow(r);
      })().catch((err: unknown) => logger.error({ err }, 'initial sync failed'))
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
      stopTlsWatches.forEach((stop) => stop?.());
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
      await Promise.allSettled(underway);
      store.close();
    },
  };
}

/** A listen that failed, as the one line an operator can act on; anything unexpected as it is. */
function cannotListen(host: string, port: number, err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  const fixes: Record<string, string> = {
    EADDRINUSE: 'another process listens there: stop it, or pick another port with --port or server.port',
    EACCES: 'not allowed to listen there: use a port above 1023, or give the process the right to bind it',
    EADDRNOTAVAIL: 'not an address of this machine: give one of its addresses with --host or server.host (0.0.0.0: all of them)',
  };
  if (!code || !fixes[code]) return err;
  return new ConfigError(`cannot listen on ${host}:${port} (${code}): ${fixes[code]}`, 'CANNOT_LISTEN');
}
