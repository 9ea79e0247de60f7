import cron, { type ScheduledTask } from 'node-cron';
import { isSignedHere, type Config, type RepositoryConfig } from '../config/config';
import type { Logger } from '../lib/log';
import type { SyncErrorCode } from '../sync/errors';
import type { SyncResult } from '../sync/sync';

/** Failures a retry cannot fix: someone else is syncing, we are stopping, or the config is wrong. */
const FINAL: SyncErrorCode[] = ['SYNC_IN_PROGRESS', 'CANCELLED', 'TRUST_ANCHOR_INVALID'];

/**
 * Runs each repository's sync on its cron schedule, after a random delay (jitter) so replicas
 * spread their requests, retrying failures with exponential backoff. One run per repository at
 * a time: node-cron skips a tick that overlaps, and the sync lock covers other processes.
 */
export class SyncScheduler {
  private tasks: ScheduledTask[] = [];

  constructor(
    private readonly config: Config,
    private readonly run: (repository: RepositoryConfig) => Promise<SyncResult>,
    private readonly logger: Logger,
    private readonly signal: AbortSignal,
    /** What a repository signed here (origin, bridge) does on its schedule instead of syncing: re-sign. */
    private readonly resign?: (repository: RepositoryConfig) => Promise<unknown>,
  ) {}

  start(): void {
    for (const repository of this.config.repositories) {
      if (isSignedHere(repository) && repository.origin) {
        const resign = this.resign;
        if (!resign) continue;
        const task = cron.schedule(repository.origin.resignSchedule, () => resign(repository), { name: `resign:${repository.name}`, noOverlap: true });
        this.tasks.push(task);
        this.logger.info({ repository: repository.name, schedule: repository.origin.resignSchedule, next: task.getNextRun()?.toISOString() }, 're-signing scheduled');
        continue;
      }
      const task = cron.schedule(repository.schedule ?? this.config.sync.schedule, () => this.runWithRetries(repository), {
        name: `sync:${repository.name}`,
        noOverlap: true,
        maxRandomDelay: this.config.sync.jitterSeconds * 1000,
      });
      this.tasks.push(task);
      this.logger.info({ repository: repository.name, schedule: repository.schedule, next: task.getNextRun()?.toISOString() }, 'sync scheduled');
    }
  }

  async stop(): Promise<void> {
    // destroy() answers void or a promise, depending on how the task runs.
    await Promise.all(this.tasks.map((t) => Promise.resolve(t.destroy())));
    this.tasks = [];
  }

  async runWithRetries(repository: RepositoryConfig): Promise<SyncResult> {
    const { retries, retryBackoffSeconds } = this.config.sync;
    let result = await this.run(repository);
    for (let attempt = 1; attempt <= retries && result.outcome === 'failed' && !FINAL.includes(result.error.code); attempt++) {
      const delayMs = retryBackoffSeconds * 1000 * 2 ** (attempt - 1);
      this.logger.info({ repository: repository.name, attempt, delayMs, code: result.error.code }, 'sync failed; retrying');
      if (!(await sleep(delayMs, this.signal))) break;
      result = await this.run(repository);
    }
    return result;
  }
}

/** Resolves true after `ms`, false at once if aborted. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
