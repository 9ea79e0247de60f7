#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { packageVersion } from '../lib/paths';
import { registerBridge } from './commands/bridge';
import { registerConfig } from './commands/config';
import { registerExport } from './commands/export';
import { registerImport } from './commands/import';
import { registerOrigin } from './commands/origin';
import { registerPublish } from './commands/publish';
import { registerRefresh } from './commands/refresh';
import { registerServe } from './commands/serve';
import { registerStatus } from './commands/status';
import { registerSync } from './commands/sync';
import { registerTrustroot } from './commands/trustroot';
import { registerVerify, registerVerifyBundle } from './commands/verify';
import { EXIT, exitCodeHelp, failureOf } from './exit-codes';

export function buildProgram(): Command {
  const program = new Command('tuf-mirror')
    .description('A verifying mirror for Sigstore TUF repositories')
    .version(packageVersion())
    .addOption(new Option('-c, --config <file>', 'YAML configuration file').env('TUF_MIRROR_CONFIG'))
    .addOption(new Option('--data-dir <dir>', 'where the store lives (overrides dataDir)').env('TUF_MIRROR_DATA_DIR'))
    .option('-q, --quiet', 'no progress display on stderr')
    // Set before the commands are added: subcommands inherit them. Errors come back to run()
    // instead of exiting, so that one place decides every exit code.
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .showSuggestionAfterError()
    .addHelpText('afterAll', exitCodeHelp());
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
  registerRefresh(program);
  registerConfig(program);
  return program;
}

/** `--json` before any `--`: the failure is reported as JSON on stdout too. */
const wantsJson = (argv: string[]): boolean => {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
};

/**
 * Run the command line; resolves to the exit code of a command that has finished (a server keeps
 * running after it resolves). Every exit code is decided here or by the command's own result.
 */
export async function run(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return Number(process.exitCode ?? EXIT.ok);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has already said what is wrong (or printed the help or version asked for).
      // Help with an error is a bare `tuf-mirror` or a group without its subcommand: usage.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.ok;
      if (err.code === 'commander.help') return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const failure = failureOf(err);
    if (!failure) {
      process.stderr.write(`tuf-mirror: unexpected error (a bug; please report it): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      return EXIT.failed;
    }
    if (!(err instanceof CommanderError)) process.stderr.write(`tuf-mirror: ${failure.line}\n`);
    if (wantsJson(argv)) process.stdout.write(JSON.stringify({ error: { code: failure.code, message: failure.message } }, null, 2) + '\n');
    return EXIT[failure.kind];
  }
}

async function main(): Promise<void> {
  const code = await run(process.argv);
  if (code !== EXIT.ok) process.exit(code);
}

if (require.main === module) void main();
