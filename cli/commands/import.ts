import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { configFrom, EXIT } from '../options';
import { ConfigError } from '../../config/config';
import { createLogger } from '../../lib/log';
import { Store } from '../../store/store';
import { SyncError } from '../../sync/errors';
import { importArchive, importReport, spoolToFile, type Spooled } from '../../sync/import';
import { configuredSyncOptions } from '../../sync/sync';
import { problemLines } from '../../watch/status';

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
      const repository = opts.repo ? config.repositories.find((r) => r.name === opts.repo) : config.repositories.find((r) => r.default);
      if (opts.repo && !repository) throw new ConfigError(`no repository named ${opts.repo} (configured: ${names})`);
      // An origin is signed here: its generations come from its own keys, never from an archive.
      if (repository?.kind === 'origin') throw new ConfigError(`${repository.name} is an origin repository: archives are imported into mirrors only`);
      if (!repository) {
        process.stderr.write(`tuf-mirror: no default repository: name one with --repo (configured: ${names})\n`);
        process.exitCode = EXIT.usage;
        return;
      }
      const fromStdin = file === '-';
      if (!fromStdin && !isReadableFile(file)) {
        process.stderr.write(`tuf-mirror: cannot read ${file}\n`);
        process.exitCode = EXIT.usage;
        return;
      }

      const logger = createLogger(process.env.TUF_MIRROR_LOG_LEVEL ?? 'warn', 2);
      const store = Store.open(config.dataDir);
      let spooled: Spooled | undefined;
      try {
        if (fromStdin) {
          try {
            spooled = await spoolToFile(process.stdin, path.join(store.dataDir, 'tmp'), config.import.maxBytes);
          } catch (err) {
            if (!(err instanceof SyncError)) throw err;
            process.stderr.write(`${repository.name}: import FAILED: ${err.code}: stdin: ${err.message}\n`);
            process.exitCode = EXIT.failed;
            return;
          }
        }
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
        });
        const held = store.currentGeneration(repository.name);
        const report = importReport(repository.name, result, held?.id ?? null);
        if (opts.json) {
          process.stdout.write(JSON.stringify(report, null, 2) + '\n');
        } else if (report.error) {
          process.stdout.write(`${repository.name}: import FAILED: ${report.error.code}${report.error.role ? ` [${report.error.role}]` : ''}: ${report.error.message}\n`);
          process.stdout.write(held ? `  still serving generation ${held.id}\n` : '  nothing held yet\n');
          if (report.error.code === 'EXPIRED_METADATA') process.stdout.write('  --allow-expired imports it anyway, marked as expired (for staging and tests only)\n');
        } else {
          const roles = report.roles!.map((r) => `${r.role} v${r.version}`).join(', ');
          const what = report.outcome === 'updated' ? 'new generation' : 'unchanged, generation';
          process.stdout.write(`${repository.name}: ${what} ${report.generation} (${roles}; ${report.requests} files read, ${report.bytes} bytes)\n`);
          for (const r of report.expiredMetadataAccepted ?? []) process.stdout.write(`  WARNING: accepted expired metadata: ${r.role} v${r.version} expired ${r.expires}\n`);
          for (const line of problemLines(report)) process.stdout.write(`${line}\n`);
        }
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
