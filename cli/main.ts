#!/usr/bin/env node
import { Command, Option } from 'commander';
import { ConfigError } from '../config/config';
import { packageVersion } from '../lib/paths';
import { registerBridge } from './commands/bridge';
import { registerExport } from './commands/export';
import { registerImport } from './commands/import';
import { registerOrigin } from './commands/origin';
import { registerPublish } from './commands/publish';
import { registerServe } from './commands/serve';
import { registerStatus } from './commands/status';
import { registerSync } from './commands/sync';
import { registerTrustroot } from './commands/trustroot';
import { registerVerify, registerVerifyBundle } from './commands/verify';
import { EXIT } from './options';

export function buildProgram(): Command {
  const program = new Command('tuf-mirror')
    .description('A verifying mirror for Sigstore TUF repositories')
    .version(packageVersion())
    .addOption(new Option('-c, --config <file>', 'YAML configuration file').env('TUF_MIRROR_CONFIG'))
    .option('--data-dir <dir>', 'where the store lives (overrides dataDir)')
    .showHelpAfterError();
  registerServe(program);
  registerSync(program);
  registerStatus(program);
  registerPublish(program);
  registerTrustroot(program);
  registerExport(program);
  registerImport(program);
  registerOrigin(program);
  registerBridge(program);
  registerVerify(program);
  registerVerifyBundle(program);
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
