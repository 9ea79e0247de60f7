import * as path from 'node:path';
import type { Command } from 'commander';
import { configFrom, EXIT, quietFrom, repositoryNamed } from '../options';
import { OutputError } from '../output';
import { progressOnStderr } from '../progress';
import { printJson, rolesText } from '../report';
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
    .action((name: string, opts: PublishFlags, cmd: Command) => {
      const config = configFrom(cmd);
      repositoryNamed(config, name);
      const store = Store.open(config.dataDir);
      const progress = progressOnStderr(`${name}: publish`, { json: opts.json, quiet: quietFrom(cmd) });
      try {
        const result = publishRepository(store, name, opts.dir, { servedGenerations: config.retention.servedGenerations, onFile: progress.file });
        progress.done();
        if (opts.json) printJson(result);
        else {
          process.stdout.write(
            `${name}: published generation ${result.generation} (${rolesText(result.roles)}) to ${result.dir}: ${result.files} files, ${result.written} written (${result.bytes} bytes), ${result.unchanged} already there\n`,
          );
        }
        process.exitCode = EXIT.ok;
      } catch (err) {
        progress.done();
        const errno = err as NodeJS.ErrnoException;
        if (err instanceof PublishError) throw new PublishError(err.code, `publish ${name}: ${err.message}`);
        if (errno.syscall) throw new OutputError(`publish ${name}: cannot write ${errno.path ? path.resolve(errno.path) : path.resolve(opts.dir)}: ${String(errno.code)}`);
        throw err;
      } finally {
        store.close();
      }
    });
}
