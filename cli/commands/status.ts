import type { Command } from 'commander';
import { configFrom, EXIT } from '../options';
import { Store } from '../../store/store';
import { silentLogger } from '../../lib/log';
import { allStatuses, formatStatus } from '../../watch/status';
import { Watcher } from '../../watch/watcher';

/** `tuf-mirror status`: what is held, how fresh, what expires when. */
export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('what is held, how fresh, what expires when')
    .argument('[repositories...]', 'repository names')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExit code: 0 when every item is ok or warning, 1 when anything is critical or expired or nothing is held, 3 bad config.')
    .action((names: string[], opts: { json?: boolean }, cmd: Command) => {
      const config = configFrom(cmd);
      const store = Store.open(config.dataDir);
      try {
        // Read-only: status reports states, it does not record or notify them.
        const watcher = new Watcher(store, config, silentLogger);
        const statuses = allStatuses(store, config, (r) => watcher.items(r)).filter((s) => !names.length || names.includes(s.name));
        process.stdout.write(opts.json ? JSON.stringify({ repositories: statuses }, null, 2) + '\n' : formatStatus(statuses));
        // A cron job or a probe acts on the exit code: non-zero when anything is critical or
        // expired (a repository holding nothing is critical).
        process.exitCode = statuses.every((s) => s.state === 'ok' || s.state === 'warning') ? EXIT.ok : EXIT.failed;
      } finally {
        store.close();
      }
    });
}
