import * as path from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../exit-codes';
import { configFrom, EXIT, quietFrom, repositoryNamed } from '../options';
import { writeOutput } from '../output';
import { progressOnStderr } from '../progress';
import { rolesText } from '../report';
import { sha256Hex, Store } from '../../store/store';
import { exportGeneration } from '../../sync/export';

type ExportFlags = { out: string; sinceRoot?: string; json?: boolean };

/** `tuf-mirror export`: the current generation as an archive, to carry across an air gap. */
export function registerExport(program: Command): void {
  program
    .command('export')
    .description('write the current generation of a repository as an archive (tar.gz) that `import` verifies')
    .argument('<repository>', 'repository name')
    .requiredOption('-o, --out <file>', 'the archive to write (- for stdout)')
    .option('--since-root <N>', 'leave out roots v1..vN: the receiving side already holds root vN')
    .option('--json', 'print what was written as JSON')
    .action((name: string, opts: ExportFlags, cmd: Command) => {
      const config = configFrom(cmd);
      const repository = repositoryNamed(config, name);
      if (opts.sinceRoot !== undefined && !/^\d+$/.test(opts.sinceRoot)) throw new UsageError(`--since-root must be a root version (a whole number), not "${opts.sinceRoot}"`);
      const toStdout = opts.out === '-';
      const store = Store.open(config.dataDir);
      try {
        const progress = progressOnStderr(`${name}: export`, { json: opts.json, quiet: quietFrom(cmd) });
        const { bytes, manifest, generation } = exportGeneration(store, repository, { sinceRoot: opts.sinceRoot === undefined ? undefined : Number(opts.sinceRoot), onFile: progress.file });
        progress.done();
        const out = toStdout ? '-' : path.resolve(opts.out);
        if (toStdout) process.stdout.write(bytes);
        else writeOutput(out, bytes);

        const sha256 = sha256Hex(bytes);
        const files = Object.keys(manifest.files).length;
        const [first, last] = [manifest.roots.at(0), manifest.roots.at(-1)];
        const roots = first === undefined || last === undefined ? 'no roots' : first === last ? `root v${first}` : `roots v${first}..v${last}`;
        // With --out -, stdout is the archive: the report goes to stderr.
        const report = (text: string): boolean => (toStdout ? process.stderr : process.stdout).write(text);
        if (opts.json) {
          report(JSON.stringify({ repository: name, generation: generation.id, out, bytes: bytes.length, sha256, files, roots: manifest.roots, roles: manifest.roles }, null, 2) + '\n');
        } else {
          report(
            `${name}: exported generation ${generation.id} (${rolesText(manifest.roles)}; ${files} files, ${roots}) to ${toStdout ? 'stdout' : opts.out}: ${bytes.length} bytes, sha256 ${sha256}\n`,
          );
        }
        process.exitCode = EXIT.ok;
      } finally {
        store.close();
      }
    });
}
