import type { Command } from 'commander';
import { configFrom, EXIT, repositoriesNamed } from '../options';
import { printJson } from '../report';
import { Store } from '../../store/store';
import { silentLogger } from '../../lib/log';
import { allStatuses, formatStatus } from '../../watch/status';
import { Watcher } from '../../watch/watcher';

/** `tuf-mirror status`: what is held, how fresh, what expires when. */
export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('what is held, how fresh, what expires when; exit 1 when anything is critical or expired, or nothing is held')
    .argument('[repositories...]', 'repository names (default: all)')
    .option('--json', 'print as JSON (the answer of GET /api/v1/repositories)')
    .action((names: string[], opts: { json?: boolean }, cmd: Command) => {
      const config = configFrom(cmd);
      // A misspelt name must not make a check pass: it is a configuration error, like everywhere.
      repositoriesNamed(config, names);
      const store = Store.open(config.dataDir);
      try {
        // Read-only: status reports states, it does not record or notify them.
        const watcher = new Watcher(store, config, silentLogger);
        const statuses = allStatuses(store, config, (r) => watcher.items(r)).filter((s) => !names.length || names.includes(s.name));
        if (opts.json) printJson({ repositories: statuses });
        else process.stdout.write(formatStatus(statuses));
        // A cron job or a probe acts on the exit code: healthy only when something is held and
        // nothing is critical or expired.
        const healthy = statuses.every((s) => s.generation !== null && (s.state === 'ok' || s.state === 'warning'));
        process.exitCode = healthy ? EXIT.ok : EXIT.failed;
      } finally {
        store.close();
      }
    });
}
