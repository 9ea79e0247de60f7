// Neither package re-exports its error classes from its index.
import {
  LengthOrHashMismatchError,
  RepositoryError as ModelRepositoryError,
  UnsignedMetadataError,
  ValueError as ModelValueError,
} from '@tufjs/models/dist/error';
import {
  BadVersionError,
  DownloadHTTPError,
  DownloadLengthMismatchError,
  EqualVersionError,
  ExpiredMetadataError,
  RepositoryError,
  ValueError,
} from 'tuf-js/dist/error';

/** Why a sync failed, in TUF's own vocabulary plus the transport's. */
export type SyncErrorCode =
  | 'UPSTREAM_UNREACHABLE' // connection refused, DNS failure, reset
  | 'UPSTREAM_TIMEOUT' // no complete answer within the request timeout
  | 'UPSTREAM_HTTP_ERROR' // an HTTP status other than 200 where a file must exist
  | 'RESPONSE_TOO_LARGE' // more bytes than TUF or the config allows for that file
  | 'UNSIGNED_METADATA' // signatures missing, invalid, or below the threshold
  | 'BAD_VERSION' // a rollback, or a version that does not match what the referrer names
  | 'EXPIRED_METADATA'
  | 'LENGTH_OR_HASH_MISMATCH'
  | 'MALFORMED_METADATA' // not JSON, wrong type, missing fields
  | 'REPOSITORY_ERROR' // inconsistent repository (e.g. a role missing from snapshot)
  | 'TRUST_ANCHOR_INVALID'
  | 'SYNC_IN_PROGRESS' // another process holds the repository's sync lock
  | 'CANCELLED' // the service shut down mid-run
  // Imports (sync/archive.ts): the archive is only transport, these say what is wrong with it as such.
  | 'ARCHIVE_INVALID' // not a tar.gz, truncated, or a member that is not a plain, unique, regular file
  | 'ARCHIVE_MANIFEST_MISMATCH' // manifest.json does not describe the members (a file changed, added, dropped)
  | 'ARCHIVE_INCOMPLETE' // a file the verified metadata needs is not in the archive
  | 'INTERNAL';

export class SyncError extends Error {
  /** The HTTP status, for UPSTREAM_HTTP_ERROR. */
  readonly status?: number;

  constructor(
    readonly code: SyncErrorCode,
    message: string,
    /** The role (or `targets/<path>`) the failure is about, when known. */
    readonly role?: string,
    options?: { cause?: unknown; status?: number },
  ) {
    super(message, options);
    this.status = options?.status;
    this.name = 'SyncError';
  }
}

/**
 * tuf-js wraps failures in snapshot and targets loading into a RuntimeError whose message
 * holds the original error's text, losing its class; these patterns recover the code.
 */
const MESSAGE_PATTERNS: [RegExp, SyncErrorCode][] = [
  [/is expired/i, 'EXPIRED_METADATA'],
  [/signed by \d+\/\d+ keys|threshold|signature/i, 'UNSIGNED_METADATA'],
  [/length|hash/i, 'LENGTH_OR_HASH_MISMATCH'],
  [/version/i, 'BAD_VERSION'],
  [/JSON|Unexpected token|SyntaxError|Expected .* got|must be|is not|missing|invalid/i, 'MALFORMED_METADATA'],
];

/** Turn whatever a TUF workflow threw into a SyncError with the most precise code available. */
export function classify(err: unknown, role?: string): SyncError {
  if (err instanceof SyncError) return err.role || !role ? err : new SyncError(err.code, err.message, role, { cause: err.cause, status: err.status });
  const message = err instanceof Error ? err.message : String(err);
  const code = ((): SyncErrorCode => {
    if (err instanceof ExpiredMetadataError) return 'EXPIRED_METADATA';
    if (err instanceof EqualVersionError || err instanceof BadVersionError) return 'BAD_VERSION';
    if (err instanceof UnsignedMetadataError) return 'UNSIGNED_METADATA';
    if (err instanceof LengthOrHashMismatchError) return 'LENGTH_OR_HASH_MISMATCH';
    if (err instanceof DownloadLengthMismatchError) return 'RESPONSE_TOO_LARGE';
    if (err instanceof DownloadHTTPError) return 'UPSTREAM_HTTP_ERROR';
    if (err instanceof SyntaxError || err instanceof TypeError) return 'MALFORMED_METADATA';
    if (err instanceof ValueError || err instanceof ModelValueError) return 'MALFORMED_METADATA';
    for (const [pattern, c] of MESSAGE_PATTERNS) if (pattern.test(message)) return c;
    if (err instanceof RepositoryError || err instanceof ModelRepositoryError) return 'REPOSITORY_ERROR';
    return 'INTERNAL';
  })();
  // "Final timestamp.json is expired" can surface while snapshot is being loaded: the message
  // knows better than the request that was in flight.
  const named = code === 'EXPIRED_METADATA' ? /(?:Final )?([^\s/]+)\.json is expired/.exec(message)?.[1] : undefined;
  return new SyncError(code, message, named ?? role, { cause: err });
}
