import type { Command } from 'commander';
import { configFrom, EXIT, quietFrom, repositoriesNamed } from '../options';
import { progressOnStderr } from '../progress';
import { bridgeFailed, bridgeReport, operationReport, printJson, printOperation, type BridgeReport } from '../report';
import { isSignedHere } from '../../config/config';
import { bridgeContext, tickBridge } from '../../bridge/bridge';
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
      const named = repositoriesNamed(config, names);
      // An origin is signed here, not synced from anywhere; a bridge looks at its source after the syncs.
      for (const r of named.filter((r) => r.kind === 'origin')) process.stderr.write(`${r.name}: an origin repository, nothing to sync (tuf-mirror origin resign ${r.name} re-signs it)\n`);
      const selected = named.filter((r) => !isSignedHere(r));
      const bridges = named.filter((r) => r.kind === 'bridge');
      const logger = createLogger(process.env.TUF_MIRROR_LOG_LEVEL ?? 'warn', 2);
      const store = Store.open(config.dataDir);
      // A sync from cron with no server running still records events and sends alerts.
      const notifier = new WebhookNotifier(config.alerts.webhooks, logger, { attempts: 3, backoffMs: 1000 });
      const watcher = new Watcher(store, config, logger, notifier);
      const results = [];
      const bridged: BridgeReport[] = [];
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
        for (const repository of bridges) {
          if (!store.currentGeneration(repository.name)) {
            process.stderr.write(`${repository.name}: a bridge that holds nothing yet (tuf-mirror bridge init ${repository.name})\n`);
            continue;
          }
          const decision = await tickBridge(bridgeContext(config, store, repository, logger));
          watcher.watch(repository);
          const report = bridgeReport(repository.name, decision);
          bridged.push(report);
          if (!opts.json) process.stdout.write(`${repository.name}: bridge ${decision.outcome}: ${decision.message}\n`);
        }
        await notifier.drain();
      } finally {
        process.off('SIGTERM', cancel);
        process.off('SIGINT', cancel);
        store.close();
      }
      if (opts.json) printJson({ results: [...results, ...bridged] });
      const failed = results.some((r) => r.outcome === 'failed') || bridged.some(bridgeFailed) || stop.signal.aborted;
      process.exitCode = failed ? EXIT.failed : EXIT.ok;
    });
}
