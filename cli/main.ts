#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { packageVersion } from '../lib/paths';
import { EXIT, exitCodeHelp, failureOf } from './exit-codes';

type Register = (program: Command) => void;

/**
 * Every command, in the order `--help` lists them, each with the module that defines it. A module
 * is loaded only when its command runs: a start pays for one command's dependencies, not for all
 * of them (the verifier, the server, the origin signer...).
 */
const COMMANDS: [name: string, load: () => Promise<Register>][] = [
  ['serve', async () => (await import('./commands/serve')).registerServe],
  ['sync', async () => (await import('./commands/sync')).registerSync],
  ['status', async () => (await import('./commands/status')).registerStatus],
  ['publish', async () => (await import('./commands/publish')).registerPublish],
  ['trustroot', async () => (await import('./commands/trustroot')).registerTrustroot],
  ['export', async () => (await import('./commands/export')).registerExport],
  ['import', async () => (await import('./commands/import')).registerImport],
  ['origin', async () => (await import('./commands/origin')).registerOrigin],
  ['bridge', async () => (await import('./commands/bridge')).registerBridge],
  ['verify', async () => (await import('./commands/verify')).registerVerify],
  ['verify-bundle', async () => (await import('./commands/verify')).registerVerifyBundle],
  ['refresh-cluster', async () => (await import('./commands/refresh')).registerRefresh],
  ['config', async () => (await import('./commands/config')).registerConfig],
];

function withGlobalOptions(program: Command): Command {
  return program
    .addOption(new Option('-c, --config <file>', 'YAML configuration file').env('TUF_MIRROR_CONFIG'))
    .addOption(new Option('--data-dir <dir>', 'where the store lives (overrides dataDir)').env('TUF_MIRROR_DATA_DIR'))
    .option('-q, --quiet', 'no progress display on stderr');
}

/**
 * The command argv runs, found as commander finds it: the first operand once the global options
 * are parsed. Undefined when there is none or commander would stop before it (help, version, an
 * unknown or incomplete option): then every command is loaded, so that help and suggestions list
 * them all.
 */
function commandOf(argv: string[]): string | undefined {
  const silent = (): void => {
    // The probe only finds the command: help, suggestions and errors are the real parse's to print.
  };
  const probe = withGlobalOptions(new Command()).exitOverride().configureOutput({ writeOut: silent, writeErr: silent });
  try {
    return probe.parseOptions(argv.slice(2)).operands[0];
  } catch {
    return undefined;
  }
}

/** The program with the command argv names, or with every command when argv names none. */
export async function buildProgram(argv: string[] = []): Promise<Command> {
  const program = withGlobalOptions(new Command('tuf-mirror').description('A verifying mirror for Sigstore TUF repositories').version(packageVersion()))
    // Set before the commands are added: subcommands inherit them. Errors come back to run()
    // instead of exiting, so that one place decides every exit code.
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .showSuggestionAfterError()
    .addHelpText('afterAll', exitCodeHelp());
  const named = commandOf(argv);
  const wanted = COMMANDS.some(([name]) => name === named) ? COMMANDS.filter(([name]) => name === named) : COMMANDS;
  for (const [, load] of wanted) (await load())(program);
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
    await (await buildProgram(argv)).parseAsync(argv);
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
