import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../exit-codes';
import { configFrom, EXIT, quietFrom, repositoryNamed } from '../options';
import { progressOnStderr } from '../progress';
import { printJson, printOperation } from '../report';
import { ConfigError, isSignedHere } from '../../config/config';
import { createLogger } from '../../lib/log';
import { Store } from '../../store/store';
import { SyncError } from '../../sync/errors';
import { importArchive, importReport, spoolToFile, type Spooled } from '../../sync/import';
import { configuredSyncOptions } from '../../sync/sync';

type ImportFlags = { repo?: string; allowExpired?: boolean; json?: boolean };

/** `tuf-mirror import`: an export archive, verified as a sync from an upstream would be. */
export function registerImport(program: Command): void {
  program
    .command('import')
    .description('verify an export archive exactly as a sync would, and commit it as a new generation')
    .argument('<file>', 'the archive (tar.gz) written by `tuf-mirror export`; - reads stdin')
    .option('--repo <name>', 'the repository to import into (default: the default repository)')
    .option('--allow-expired', 'accept expired metadata (staging, tests); the generation is marked as such')
    .option('--json', 'print the outcome as JSON')
    .action(async (file: string, opts: ImportFlags, cmd: Command) => {
      const config = configFrom(cmd);
      const names = config.repositories.map((r) => r.name).join(', ');
      const repository = opts.repo ? repositoryNamed(config, opts.repo) : config.repositories.find((r) => r.default);
      // An origin or a bridge is signed here: its generations come from its own keys, never from an archive.
      if (repository && isSignedHere(repository))
        throw new ConfigError('INVALID_CONFIG', `${repository.name} is an ${repository.kind ?? 'mirror'} repository: archives are imported into mirrors only`);
      if (!repository) throw new UsageError(`no default repository: name one with --repo (configured: ${names})`);
      const fromStdin = file === '-';
      if (!fromStdin && !isReadableFile(file)) throw new UsageError(`cannot read ${file}`);

      const logger = createLogger(process.env.TUF_MIRROR_LOG_LEVEL ?? 'warn', 2);
      const store = Store.open(config.dataDir);
      let spooled: Spooled | undefined;
      try {
        if (fromStdin) {
          try {
            spooled = await spoolToFile(process.stdin, path.join(store.dataDir, 'tmp'), config.import.maxBytes);
          } catch (err) {
            if (!(err instanceof SyncError)) throw err;
            throw new SyncError(err.code, `stdin: ${err.message}`);
          }
        }
        const progress = progressOnStderr(`${repository.name}: import`, { json: opts.json, quiet: quietFrom(cmd) });
        const result = await importArchive({
          store,
          repository,
          logger,
          ...configuredSyncOptions(config),
          file: spooled?.file ?? file,
          label: fromStdin ? 'stdin' : path.basename(file),
          sha256: spooled?.sha256,
          maxBytes: config.import.maxBytes,
          allowExpired: opts.allowExpired,
          onFile: progress.file,
        });
        progress.done();
        const report = importReport(repository.name, result, store.currentGeneration(repository.name)?.id ?? null);
        if (opts.json) printJson(report);
        else printOperation('import', report);
        process.exitCode = result.outcome === 'failed' ? EXIT.failed : EXIT.ok;
      } finally {
        if (spooled) fs.rmSync(spooled.file, { force: true });
        store.close();
      }
    });
}

function isReadableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
