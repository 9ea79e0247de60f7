/**
 * The exit-code contract of every command, in one place: the meaning of each code (what `--help`
 * and the README print) and which error means which code. A script or a CronJob acts on these.
 */
import { CommanderError } from 'commander';
import { BridgeError } from '../bridge/errors';
import { ConfigError } from '../config/errors';
import { TrustRootError, TufMirrorError, type TrustRootErrorCode } from '../lib/errors';
import { OriginError } from '../origin/errors';
import { PublishError } from '../publish/errors';
import { errorAnswer } from '../server/http-errors';
import { StoreError } from '../store/errors';
import { ExportError, SyncError } from '../sync/errors';
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
export class UsageError extends TufMirrorError<'USAGE'> {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/**
 * A failure as the CLI reports it: the code to exit with, a stable error code (what `--json`
 * reports), the message, and the line on stderr (the message, after its code for the errors
 * whose code names what went wrong better than the message alone).
 */
export type Failure = { kind: ExitKind; code: string; message: string; line: string };

/** Which exit each trust-root code means: the request's fault 2, the deployment's 3, else 1. */
const TRUST_ROOT_EXIT: Record<TrustRootErrorCode, ExitKind> = {
  UNKNOWN_FORMAT: 'usage',
  UNKNOWN_TARGET: 'usage',
  INVALID_NAME: 'usage',
  INVALID_MIRROR_URL: 'usage',
  IDENTITY_REQUIRED: 'usage',
  INVALID_IDENTITY: 'usage',
  MIRROR_URL_REQUIRED: 'config',
  NO_GENERATION: 'failed',
  TARGET_MISSING: 'failed',
  TARGET_INVALID: 'failed',
  MEMBER_TOO_LARGE: 'failed',
  NOTHING_VALID: 'failed',
  BAD_TRUSTED_ROOT: 'failed',
};

/**
 * One rule per class whose exit the command line decides: `kind` from the code, and whether the
 * line on stderr leads with the code (where it names what went wrong better than the message).
 */
type Rule<E extends TufMirrorError> = { cls: abstract new (...args: never[]) => E; kind: (e: E) => ExitKind; codeInLine: boolean };
const rule = <E extends TufMirrorError>(cls: Rule<E>['cls'], kind: Rule<E>['kind'], codeInLine = true): Rule<TufMirrorError> => ({
  cls,
  kind: (e) => (e instanceof cls ? kind(e) : 'failed'),
  codeInLine,
});

const RULES: Rule<TufMirrorError>[] = [
  rule(UsageError, () => 'usage', false),
  rule(ConfigError, () => 'config', false),
  rule(StoreError, () => 'config', false),
  rule(OutputError, () => 'failed', false),
  rule(OriginError, (e) => (e.code === 'BAD_INPUT' ? 'usage' : 'failed')),
  rule(BridgeError, (e) => (e.code === 'NOT_A_BRIDGE' ? 'config' : 'failed')),
  rule(ExportError, (e) => (e.code === 'SINCE_ROOT' ? 'usage' : 'failed'), false),
  rule(PublishError, () => 'failed', false),
  rule(SyncError, () => 'failed'),
  rule(TrustRootError, (e) => TRUST_ROOT_EXIT[e.code]),
];

const failure = (kind: ExitKind, code: string, message: string, codeInLine: boolean): Failure => ({ kind, code, message, line: codeInLine ? `${code}: ${message}` : message });

// `instanceof` of the generic class narrows to TufMirrorError<any>; this narrows to its string codes.
const isTufMirrorError = (err: unknown): err is TufMirrorError => err instanceof TufMirrorError;

/** What an error means for the exit code; undefined for a bug (reported with its stack). */
export function failureOf(err: unknown): Failure | undefined {
  if (err instanceof CommanderError) return failure('usage', 'USAGE', err.message, false);
  if (!isTufMirrorError(err)) return undefined;
  const r = RULES.find((x) => err instanceof x.cls);
  if (r) return failure(r.kind(err), err.code, err.message, r.codeInLine);
  // The verifier's errors as its HTTP answer classifies them: a bad request is the command line's
  // fault, an unknown repository the configuration's, anything else a failure to answer.
  const answer = errorAnswer(err);
  if (!answer) return undefined;
  const { code, message } = answer.body.error;
  return failure(code === 'UNKNOWN_REPOSITORY' ? 'config' : answer.status === 400 ? 'usage' : 'failed', code, message, true);
}
