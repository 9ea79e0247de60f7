import type { Command } from 'commander';
import { configFrom, EXIT, quietFrom, unknownRepository } from '../options';
import { progressOnStderr } from '../progress';
import { operationReport, printJson, printOperation } from '../report';
import { createLogger } from '../../lib/log';
import { Store } from '../../store/store';
import { Watcher } from '../../watch/watcher';
import { WebhookNotifier } from '../../watch/webhooks';
import { configuredSyncOptions, syncRepository } from '../../sync/sync';

/** `tuf-mirror sync`: one verified sync now, for cron jobs and first fills. */
export function registerSync(program: Command): void {
  program
    .command('sync')
    .description('run one verified sync now (all repositories, or those named)')
    .argument('[repositories...]', 'repository names')
    .option('--json', 'print the outcome as JSON')
    .action(async (names: string[], opts: { json?: boolean }, cmd: Command) => {
      const config = configFrom(cmd);
      const unknown = names.filter((n) => !config.repositories.some((r) => r.name === n));
      if (unknown.length) throw unknownRepository(config, unknown);
      const named = names.length ? config.repositories.filter((r) => names.includes(r.name)) : config.repositories;
      // An origin is signed here, not synced from anywhere.
      for (const r of named.filter((r) => r.kind === 'origin')) process.stderr.write(`${r.name}: an origin repository, nothing to sync (tuf-mirror origin resign ${r.name} re-signs it)\n`);
      const selected = named.filter((r) => r.kind !== 'origin');
      const logger = createLogger(process.env.TUF_MIRROR_LOG_LEVEL ?? 'warn', 2);
      const store = Store.open(config.dataDir);
      // A sync from cron with no server running still records events and sends alerts.
      const notifier = new WebhookNotifier(config.alerts.webhooks, logger, { attempts: 3, backoffMs: 1000 });
      const watcher = new Watcher(store, config, logger, notifier);
      const results = [];
      // SIGTERM (a Job's pod deleted) or SIGINT: cancel the run, so it is recorded as CANCELLED and
      // its lock released for a sync elsewhere; a second signal kills as usual.
      const stop = new AbortController();
      const cancel = (): void => stop.abort();
      process.once('SIGTERM', cancel);
      process.once('SIGINT', cancel);
      try {
        for (const repository of selected) {
          if (stop.signal.aborted) break;
          const progress = progressOnStderr(`${repository.name}: sync`, { json: opts.json, quiet: quietFrom(cmd) });
          const result = await syncRepository({ store, repository, logger, ...configuredSyncOptions(config), signal: stop.signal, onFile: progress.file });
          progress.done();
          watcher.watch(repository);
          const report = operationReport(repository.name, result, store.currentGeneration(repository.name)?.id ?? null);
          results.push(report);
          if (!opts.json) printOperation('sync', report);
        }
        await notifier.drain();
      } finally {
        process.off('SIGTERM', cancel);
        process.off('SIGINT', cancel);
        store.close();
      }
      if (opts.json) printJson({ results });
      process.exitCode = results.some((r) => r.outcome === 'failed') || stop.signal.aborted ? EXIT.failed : EXIT.ok;
    });
}
