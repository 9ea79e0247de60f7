import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { configFrom, EXIT } from '../options';
import { ConfigError } from '../../config/config';
import { sha256Hex, Store } from '../../store/store';
import { exportGeneration, ExportError } from '../../sync/archive';

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
      const repository = config.repositories.find((r) => r.name === name);
      if (!repository) throw new ConfigError(`no repository named ${name} (configured: ${config.repositories.map((r) => r.name).join(', ')})`);
      if (opts.sinceRoot !== undefined && !/^\d+$/.test(opts.sinceRoot)) {
        process.stderr.write(`tuf-mirror: --since-root must be a root version (a whole number), not "${opts.sinceRoot}"\n`);
        process.exitCode = EXIT.usage;
        return;
      }
      const toStdout = opts.out === '-';
      const store = Store.open(config.dataDir);
      try {
        const { bytes, manifest, generation } = exportGeneration(store, repository, { sinceRoot: opts.sinceRoot === undefined ? undefined : Number(opts.sinceRoot) });
        if (toStdout) process.stdout.write(bytes);
        else writeAtomically(path.resolve(opts.out), bytes);

        const sha256 = sha256Hex(bytes);
        const files = Object.keys(manifest.files).length;
        const [first, last] = [manifest.roots[0], manifest.roots.at(-1)];
        const roots = first === undefined ? 'no roots' : first === last ? `root v${first}` : `roots v${first}..v${last}`;
        // With --out -, stdout is the archive: the report goes to stderr.
        const report = (text: string): boolean => (toStdout ? process.stderr : process.stdout).write(text);
        if (opts.json) {
          report(JSON.stringify({ repository: name, generation: generation.id, out: toStdout ? '-' : path.resolve(opts.out), bytes: bytes.length, sha256, files, roots: manifest.roots, roles: manifest.roles }, null, 2) + '\n');
        } else {
          const roles = manifest.roles.map((r) => `${r.role} v${r.version}`).join(', ');
          report(`${name}: exported generation ${generation.id} (${roles}; ${files} files, ${roots}) to ${toStdout ? 'stdout' : opts.out}: ${bytes.length} bytes, sha256 ${sha256}\n`);
        }
        process.exitCode = EXIT.ok;
      } catch (err) {
        const errno = (err as NodeJS.ErrnoException).syscall ? (err as NodeJS.ErrnoException).code : undefined;
        if (!(err instanceof ExportError) && !errno) throw err;
        process.stderr.write(`tuf-mirror: ${err instanceof ExportError ? err.message : `cannot write ${opts.out}: ${errno}`}\n`);
        process.exitCode = err instanceof ExportError && err.reason === 'SINCE_ROOT' ? EXIT.usage : EXIT.failed;
      } finally {
        store.close();
      }
    });
}

/** Write next to the target, then rename: a reader never sees half an archive. */
function writeAtomically(file: string, bytes: Buffer): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, bytes);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}
