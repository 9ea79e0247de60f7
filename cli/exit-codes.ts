/**
 * The exit-code contract of every command, in one place: the meaning of each code (what `--help`
 * and the README print) and which error means which code. A script or a CronJob acts on these.
 */
import { CommanderError } from 'commander';
import { BridgeError } from '../bridge/errors';
import { ConfigError } from '../config/config';
import { OriginError } from '../origin/errors';
import { PublishError } from '../publish/publish';
import { StoreError } from '../store/errors';
import { ExportError } from '../sync/export';
import { SyncError } from '../sync/errors';
import { EXIT_KIND, TrustRootError as TrustOutputError } from '../trust/errors';
import { errorAnswer } from '../verifier/errors';
import { OutputError } from './output';

export const EXIT = { ok: 0, failed: 1, usage: 2, config: 3 } as const;
export type ExitKind = keyof typeof EXIT;

/** What each code means, for every command. */
export const EXIT_MEANINGS: Record<ExitKind, string> = {
  ok: 'done: synced (or unchanged), written, verified, healthy (every item ok or warning)',
  failed: 'failed or unhealthy: a sync or import refused, nothing held, anything critical or expired, not verified, output not writable',
  usage: 'usage: an unknown command or option, a missing or malformed argument, an unreadable input file',
  config: 'configuration: an invalid or missing config file, an unknown repository, a port in use, a data dir not writable, bad TLS files',
};

/** The table `tuf-mirror --help` ends with. */
export function exitCodeHelp(): string {
  const rows = (Object.keys(EXIT) as ExitKind[]).map((k) => `  ${EXIT[k]}  ${EXIT_MEANINGS[k]}`);
  return ['', 'Exit codes (every command):', ...rows].join('\n');
}

/** The command line asks for something that cannot mean anything: exit 2. */
export class UsageError extends Error {
  readonly code = 'USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * A failure as the CLI reports it: the code to exit with, a stable error code (what `--json`
 * reports), the message, and the line on stderr (the message, after its code for the errors
 * whose code names what went wrong better than the message alone).
 */
export type Failure = { kind: ExitKind; code: string; message: string; line: string };

type Rule = (err: unknown) => Failure | undefined;

/** One rule per error class: `kind` decides the exit code, `code` is what `--json` reports. */
function rule<T extends Error>(cls: abstract new (...args: never[]) => T, kind: (e: T) => ExitKind, code: (e: T) => string, codeInLine = true): Rule {
  return (err) => {
    if (!(err instanceof cls)) return undefined;
    const c = code(err);
    return { kind: kind(err), code: c, message: err.message, line: codeInLine ? `${c}: ${err.message}` : err.message };
  };
}

const RULES: Rule[] = [
  rule(UsageError, () => 'usage', (e) => e.code, false),
  rule(CommanderError, () => 'usage', () => 'USAGE', false),
  rule(ConfigError, () => 'config', (e) => e.code, false),
  rule(StoreError, () => 'config', (e) => e.code, false),
  rule(OutputError, () => 'failed', (e) => e.code, false),
  rule(OriginError, (e) => (e.code === 'BAD_INPUT' ? 'usage' : 'failed'), (e) => e.code),
  rule(BridgeError, (e) => (e.code === 'NOT_A_BRIDGE' ? 'config' : 'failed'), (e) => e.code),
  rule(ExportError, (e) => (e.reason === 'SINCE_ROOT' ? 'usage' : 'failed'), (e) => e.reason, false),
  rule(PublishError, () => 'failed', (e) => e.reason, false),
  rule(SyncError, () => 'failed', (e) => e.code),
  rule(TrustOutputError, (e) => EXIT_KIND[e.code], (e) => e.code),
  // The verifier's errors as its HTTP answer classifies them: a bad request is the command line's
  // fault, an unknown repository the configuration's, anything else a failure to answer.
  (err) => {
    const answer = errorAnswer(err);
    if (!answer) return undefined;
    const { code, message } = answer.body.error;
    return { kind: code === 'UNKNOWN_REPOSITORY' ? 'config' : answer.status === 400 ? 'usage' : 'failed', code, message, line: `${code}: ${message}` };
  },
];

/** What an error means for the exit code; undefined for a bug (reported with its stack). */
export function failureOf(err: unknown): Failure | undefined {
  for (const r of RULES) {
    const failure = r(err);
    if (failure) return failure;
  }
  return undefined;
}
