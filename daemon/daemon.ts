/**
 * What `tuf-mirror serve` keeps running beside its HTTP listeners, wired from the parts: the
 * schedules (a sync for each mirror, a re-signing for each repository signed here), the reload of
 * what another process committed, the watch of expiry and rotation, and each bridge's look at its
 * source. The listeners (server/) are given `syncNow` and the watcher; nothing here knows HTTP.
 */
import { bridgeContext, tickBridge } from '../bridge/bridge';
import { isSignedHere, type Config, type RepositoryConfig } from '../config/config';
import type { Logger } from '../lib/log';
import { resignOrigin } from '../origin/origin';
import type { Store } from '../store/store';
import { configuredSyncOptions, syncRepository, type SyncResult } from '../sync/sync';
import { Watcher } from '../watch/watcher';
import { WebhookNotifier } from '../watch/webhooks';
import { SyncScheduler } from './scheduler';
import { WorkUnderway } from './underway';

/** What is served, as the daemon sees it: the server's file index satisfies this. */
export type ServedGenerations = {
  /** Read again what the store holds; the names of the repositories whose served generation changed. */
  reload(): string[];
  generationOf(name: string): number | undefined;
};

export type DaemonParts = {
  config: Config;
  store: Store;
  logger: Logger;
  served: ServedGenerations;
};

export type DaemonOptions = {
  /** How often to look for generations committed by another process (a CLI sync). */
  reloadIntervalMs?: number;
  /** Run the cron schedules (tests drive syncs themselves). Default true. */
  schedule?: boolean;
  /** Override alerts.evaluateEverySeconds (tests). */
  evaluateIntervalMs?: number;
  /** Webhook delivery tuning (tests). */
  webhooks?: ConstructorParameters<typeof WebhookNotifier>[2];
};

/** The repositories by what the daemon does with them. */
type Kinds = { mirrors: RepositoryConfig[]; signed: RepositoryConfig[]; bridges: RepositoryConfig[] };

export class Daemon {
  readonly watcher: Watcher;
  readonly notifier: WebhookNotifier;
  private readonly shutdown = new AbortController();
  private readonly work = new WorkUnderway();
  private readonly kinds: Kinds;
  private readonly scheduler: SyncScheduler;
  private timers: NodeJS.Timeout[] = [];
  private initialSync: Promise<void> = Promise.resolve();

  constructor(
    private readonly parts: DaemonParts,
    private readonly options: DaemonOptions = {},
  ) {
    const { config, store, logger } = parts;
    this.notifier = new WebhookNotifier(config.alerts.webhooks, logger, options.webhooks);
    this.watcher = new Watcher(store, config, logger, this.notifier);
    this.kinds = {
      mirrors: config.repositories.filter((r) => !isSignedHere(r)),
      signed: config.repositories.filter((r) => isSignedHere(r)),
      bridges: config.repositories.filter((r) => r.kind === 'bridge'),
    };
    this.scheduler = new SyncScheduler(config, this.syncNow, logger, this.shutdown.signal, (r) => this.resign(r, true));
  }

  /** One sync of one repository, as the schedule and the admin API run it. */
  readonly syncNow = (repository: RepositoryConfig): Promise<SyncResult> => this.work.track(this.syncOnce(repository));

  /** One sync of every mirror, in config order, one attempt each. */
  async syncAll(): Promise<SyncResult[]> {
    const results: SyncResult[] = [];
    for (const repository of this.kinds.mirrors) {
      if (this.shutdown.signal.aborted) break;
      results.push(await this.syncNow(repository));
    }
    return results;
  }

  /** Judge what is held, then keep reloading, checking and syncing on schedule. */
  start(): void {
    this.startTimers();
    // What is held is judged at once; a repository holding nothing yet is judged after its first
    // sync attempt (or the first periodic check), not in the second before that attempt.
    const { config } = this.parts;
    config.repositories.filter((r) => this.parts.served.generationOf(r.name) !== undefined).forEach((r) => this.watcher.watch(r));
    if (this.options.schedule ?? true) this.scheduler.start();
    if (config.sync.onStart) this.initialSync = this.runInitialSync().catch((err: unknown) => this.parts.logger.error({ err }, 'initial sync failed'));
  }

  /** Stop the timers and schedules and cancel what runs; `settled()` waits for it to end. */
  async stop(): Promise<void> {
    this.timers.forEach((t) => clearInterval(t));
    this.timers = [];
    this.shutdown.abort();
    this.notifier.stop();
    await this.scheduler.stop();
  }

  /** Resolves once the start-up syncs and every sync and re-signing under way have ended. */
  async settled(): Promise<void> {
    await this.initialSync;
    await this.work.settled();
  }

  private startTimers(): void {
    const { config } = this.parts;
    const { mirrors, signed, bridges } = this.kinds;
    this.timers = [
      setInterval(() => this.reload(), this.options.reloadIntervalMs ?? 2000),
      // Expiry moves with the clock, not only with syncs. An origin whose timestamp is past half its
      // life is re-signed here too, so a missed cron tick (the service was down) cannot let it lapse.
      setInterval(
        () => {
          mirrors.forEach((r) => this.watcher.watch(r));
          signed.forEach((r) => void this.resign(r));
          bridges.forEach((r) => void this.bridge(r));
        },
        this.options.evaluateIntervalMs ?? config.alerts.evaluateEverySeconds * 1000,
      ),
    ];
    this.timers.forEach((t) => t.unref());
  }

  private async runInitialSync(): Promise<void> {
    for (const r of this.kinds.signed) await this.resign(r);
    for (const r of this.kinds.mirrors) await this.scheduler.runWithRetries(r);
    for (const r of this.kinds.bridges) await this.bridge(r);
  }

  /** Serve what another process committed; a failure keeps the previous generation served. */
  private reload(): void {
    const { config, served, logger } = this.parts;
    try {
      for (const name of served.reload()) {
        logger.info({ repository: name, generation: served.generationOf(name) }, 'now serving generation');
        const repository = config.repositories.find((r) => r.name === name);
        if (repository) this.watcher.watch(repository);
      }
    } catch (err) {
      logger.error({ err }, 'reloading the served generation failed; still serving the previous one');
    }
  }

  private async syncOnce(repository: RepositoryConfig): Promise<SyncResult> {
    const { config, store, logger, served } = this.parts;
    const result = await syncRepository({ store, repository, logger, ...configuredSyncOptions(config), signal: this.shutdown.signal });
    if (result.outcome === 'failed' && (result.error.code === 'UPSTREAM_UNREACHABLE' || result.error.code === 'UPSTREAM_TIMEOUT')) {
      const generation = served.generationOf(repository.name);
      logger.error(
        { repository: repository.name, upstream: result.error.message, generation: generation ?? null },
        `upstream unreachable: ${generation ? 'serving the held generation' : 'nothing to serve until a sync succeeds'}`,
      );
    }
    this.reload();
    this.watcher.watch(repository);
    if (result.outcome === 'updated') for (const b of this.kinds.bridges.filter((b) => b.bridge?.source === repository.name)) await this.bridge(b);
    return result;
  }

  /** Origins and bridges are signed here, not synced: re-sign (forced on schedule, else only when due). */
  private resign(repository: RepositoryConfig, force = false): Promise<void> {
    const { store, logger } = this.parts;
    return this.work.serialized(repository.name, async () => {
      try {
        if (await resignOrigin({ store, repository, logger }, { force })) this.reload();
      } catch (err) {
        logger.error({ repository: repository.name, err: (err as Error).message }, 're-signing failed; the current generation is still served');
      }
      this.watcher.watch(repository);
    });
  }

  /** A bridge looks at its source's verified generation; with promote: auto it promotes what passes the gate. */
  private bridge(repository: RepositoryConfig): Promise<void> {
    const { config, store, logger } = this.parts;
    return this.work.serialized(repository.name, async () => {
      if (!store.currentGeneration(repository.name)) return; // not initialized yet: tuf-mirror bridge init
      try {
        const decision = await tickBridge(bridgeContext(config, store, repository, logger));
        if (decision.outcome === 'promoted') this.reload();
      } catch (err) {
        logger.error({ repository: repository.name, err: (err as Error).message }, 'bridge check failed; the promoted content is still served');
      }
      this.watcher.watch(repository);
    });
  }
}
