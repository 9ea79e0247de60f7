#!/usr/bin/env node
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError, loadConfig, type Config, type ConfigOverrides } from '../config/config';
import { createLogger } from '../lib/log';
import { packageVersion } from '../lib/paths';
import { startService } from '../server/service';
import { Store } from '../store/store';
import { syncRepository } from '../sync/sync';
import { allStatuses, formatStatus } from '../watch/status';

/** Exit codes a script or a CronJob can act on. */
export const EXIT = { ok: 0, failed: 1, usage: 2, config: 3 } as const;

type GlobalOptions = { config?: string; dataDir?: string; host?: string; port?: number };

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number (0-65535)');
  return n;
}

function configFrom(cmd: Command): Config {
  const o = cmd.optsWithGlobals<GlobalOptions>();
  const overrides: ConfigOverrides = { dataDir: o.dataDir, host: o.host, port: o.port };
  return loadConfig(o.config ?? process.env.TUF_MIRROR_CONFIG, overrides);
}

export function buildProgram(): Command {
  const program = new Command('tuf-mirror')
    .description('A verifying mirror for Sigstore TUF repositories')
    .version(packageVersion())
    .addOption(new Option('-c, --config <file>', 'YAML configuration file').env('TUF_MIRROR_CONFIG'))
    .option('--data-dir <dir>', 'where the store lives (overrides dataDir)')
    .showHelpAfterError();

  program
    .command('serve', { isDefault: true })
    .description('serve the held repositories over HTTP and keep them in sync')
    .option('--host <host>', 'address to listen on (overrides server.host)')
    .option('-p, --port <port>', 'port to listen on (overrides server.port)', parsePort)
    .action(async (_opts, cmd: Command) => {
      const config = configFrom(cmd);
      const logger = createLogger();
      const service = await startService(config, logger);
      const stop = (signal: string): void => {
        logger.info({ signal }, 'shutting down');
        service.close().then(
          () => process.exit(EXIT.ok),
          () => process.exit(EXIT.failed),
        );
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });

  program
    .command('sync')
    .description('run one verified sync now (all repositories, or those named)')
    .argument('[repositories...]', 'repository names')
    .option('--json', 'print the outcome as JSON')
    .action(async (names: string[], opts: { json?: boolean }, cmd: Command) => {
      const config = configFrom(cmd);
      const unknown = names.filter((n) => !config.repositories.some((r) => r.name === n));
      if (unknown.length) throw new ConfigError(`no repository named ${unknown.join(', ')} (configured: ${config.repositories.map((r) => r.name).join(', ')})`);
      const selected = names.length ? config.repositories.filter((r) => names.includes(r.name)) : config.repositories;
      const logger = createLogger(process.env.TUF_MIRROR_LOG_LEVEL ?? 'warn', 2);
      const store = Store.open(config.dataDir);
      let failed = false;
      const report = [];
      try {
        for (const repository of selected) {
          const result = await syncRepository({
            store,
            repository,
            logger,
            requestTimeoutMs: config.sync.requestTimeoutSeconds * 1000,
            maxTargetBytes: config.sync.maxTargetBytes,
            keptGenerations: config.retention.keptGenerations,
          });
          failed ||= result.outcome === 'failed';
          const entry =
            result.outcome === 'failed'
              ? { repository: repository.name, outcome: result.outcome, error: { code: result.error.code, role: result.error.role ?? null, message: result.error.message }, requests: result.requests, bytes: result.bytes }
              : { repository: repository.name, outcome: result.outcome, generation: result.generation.id, roles: result.generation.summary.roles, requests: result.requests, bytes: result.bytes };
          report.push(entry);
          if (!opts.json) {
            if (result.outcome === 'failed') {
              process.stdout.write(`${repository.name}: sync FAILED: ${result.error.code}${result.error.role ? ` [${result.error.role}]` : ''}: ${result.error.message}\n`);
              const held = store.currentGeneration(repository.name);
              process.stdout.write(held ? `  still serving generation ${held.id}\n` : '  nothing held yet\n');
            } else {
              const roles = result.generation.summary.roles.map((r) => `${r.role} v${r.version}`).join(', ');
              process.stdout.write(`${repository.name}: ${result.outcome === 'updated' ? 'new generation' : 'unchanged, generation'} ${result.generation.id} (${roles}; ${result.requests} requests, ${result.bytes} bytes)\n`);
            }
          }
        }
      } finally {
        store.close();
      }
      if (opts.json) process.stdout.write(JSON.stringify({ results: report }, null, 2) + '\n');
      process.exitCode = failed ? EXIT.failed : EXIT.ok;
    });

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

  return program;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tuf-mirror: ${err.message}\n`);
      process.exit(EXIT.config);
    }
    process.stderr.write(`tuf-mirror: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(EXIT.failed);
  }
}

if (require.main === module) void main();
