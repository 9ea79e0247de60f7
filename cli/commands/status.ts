import type { Command } from 'commander';
import { configFrom, EXIT } from '../options';
import { Store } from '../../store/store';
import { allStatuses, formatStatus } from '../../watch/status';

/** `tuf-mirror status`: what is held, how fresh, what expires when. */
export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('what is held, how fresh, what expires when')
    .argument('[repositories...]', 'repository names')
    .option('--json', 'print as JSON')
    .action((names: string[], opts: { json?: boolean }, cmd: Command) => {
      const config = configFrom(cmd);
      const store = Store.open(config.dataDir);
      try {
        const statuses = allStatuses(store, config).filter((s) => !names.length || names.includes(s.name));
        process.stdout.write(opts.json ? JSON.stringify({ repositories: statuses }, null, 2) + '\n' : formatStatus(statuses));
        // Scripts can tell "nothing held" from "held" without parsing.
        process.exitCode = statuses.every((s) => s.generation) ? EXIT.ok : EXIT.failed;
      } finally {
        store.close();
      }
    });
}
