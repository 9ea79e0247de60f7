import type { Command } from 'commander';
import { configFrom, EXIT } from '../options';
import { ConfigError } from '../../config/config';
import { createLogger } from '../../lib/log';
import { Store } from '../../store/store';
import { problemLines } from '../../watch/status';
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
      if (unknown.length) throw new ConfigError(`no repository named ${unknown.join(', ')} (configured: ${config.repositories.map((r) => r.name).join(', ')})`);
      const named = names.length ? config.repositories.filter((r) => names.includes(r.name)) : config.repositories;
      // An origin is signed here, not synced from anywhere.
      for (const r of named.filter((r) => r.kind === 'origin')) process.stderr.write(`${r.name}: an origin repository, nothing to sync (tuf-mirror origin resign ${r.name} re-signs it)\n`);
      const selected = named.filter((r) => r.kind !== 'origin');
      const logger = createLogger(process.env.TUF_MIRROR_LOG_LEVEL ?? 'warn', 2);
      const store = Store.open(config.dataDir);
      // A sync from cron with no server running still records events and sends alerts.
      const notifier = new WebhookNotifier(config.alerts.webhooks, logger, { attempts: 3, backoffMs: 1000 });
      const watcher = new Watcher(store, config, logger, notifier);
      let failed = false;
      const report = [];
      try {
        for (const repository of selected) {
          const result = await syncRepository({
            store,
            repository,
            logger,
            ...configuredSyncOptions(config),
          });
          watcher.watch(repository);
          failed ||= result.outcome === 'failed';
          const entry =
            result.outcome === 'failed'
              ? { repository: repository.name, outcome: result.outcome, error: { code: result.error.code, role: result.error.role ?? null, message: result.error.message }, requests: result.requests, bytes: result.bytes }
              : {
                  repository: repository.name,
                  outcome: result.outcome,
                  generation: result.generation.id,
                  roles: result.generation.summary.roles,
                  ...(result.generation.summary.failedRoles ? { failedRoles: result.generation.summary.failedRoles } : {}),
                  ...(result.generation.summary.refusedTargets ? { refusedTargets: result.generation.summary.refusedTargets } : {}),
                  requests: result.requests,
                  bytes: result.bytes,
                };
          report.push(entry);
          if (!opts.json) {
            if (result.outcome === 'failed') {
              process.stdout.write(`${repository.name}: sync FAILED: ${result.error.code}${result.error.role ? ` [${result.error.role}]` : ''}: ${result.error.message}\n`);
              const held = store.currentGeneration(repository.name);
              process.stdout.write(held ? `  still serving generation ${held.id}\n` : '  nothing held yet\n');
            } else {
              const roles = result.generation.summary.roles.map((r) => `${r.role} v${r.version}`).join(', ');
              process.stdout.write(`${repository.name}: ${result.outcome === 'updated' ? 'new generation' : 'unchanged, generation'} ${result.generation.id} (${roles}; ${result.requests} requests, ${result.bytes} bytes)\n`);
              for (const line of problemLines(result.generation.summary)) process.stdout.write(`${line}\n`);
            }
          }
        }
        await notifier.drain();
      } finally {
        store.close();
      }
      if (opts.json) process.stdout.write(JSON.stringify({ results: report }, null, 2) + '\n');
      process.exitCode = failed ? EXIT.failed : EXIT.ok;
    });
}
