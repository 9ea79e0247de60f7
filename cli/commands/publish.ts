import * as path from 'node:path';
import type { Command } from 'commander';
import { configFrom, EXIT } from '../options';
import { ConfigError } from '../../config/config';
import { Store } from '../../store/store';
import { publishRepository, PublishError } from '../../publish/publish';

type PublishFlags = { dir: string; json?: boolean };

/** `tuf-mirror publish`: the served generation as a static tree (upstream layout) for nginx, an object store or a CDN. */
export function registerPublish(program: Command): void {
  program
    .command('publish')
    .description('write the served generation of a repository as a static tree in the upstream layout (timestamp.json last)')
    .argument('<repository>', 'repository name')
    .requiredOption('-d, --dir <dir>', 'the folder to write (created if missing; old versioned files are kept)')
    .option('--json', 'print what was written as JSON')
    .addHelpText('after', '\nExit code: 0 published, 1 nothing held / a versioned file with other bytes / cannot write, 3 bad config or unknown repository.')
    .action((name: string, opts: PublishFlags, cmd: Command) => {
      const config = configFrom(cmd);
      if (!config.repositories.some((r) => r.name === name)) {
        throw new ConfigError(`no repository named ${name} (configured: ${config.repositories.map((r) => r.name).join(', ')})`);
      }
      const store = Store.open(config.dataDir);
      try {
        const result = publishRepository(store, name, opts.dir, { servedGenerations: config.retention.servedGenerations });
        if (opts.json) {
          process.stdout.write(JSON.stringify(result, null, 2) + '\n');
        } else {
          const roles = result.roles.map((r) => `${r.role} v${r.version}`).join(', ');
          process.stdout.write(
            `${name}: published generation ${result.generationId} (${roles}) to ${result.dir}: ${result.files} files, ${result.written} written (${result.bytesWritten} bytes), ${result.unchanged} already there\n`,
          );
        }
        process.exitCode = EXIT.ok;
      } catch (err) {
        const errno = err as NodeJS.ErrnoException;
        if (err instanceof PublishError) {
          process.stderr.write(`tuf-mirror: publish ${name}: ${err.message}\n`);
        } else if (errno.syscall) {
          process.stderr.write(`tuf-mirror: publish ${name}: cannot write ${errno.path ? path.resolve(errno.path) : path.resolve(opts.dir)}: ${errno.code}\n`);
        } else {
          throw err;
        }
        process.exitCode = EXIT.failed;
      } finally {
        store.close();
      }
    });
}
