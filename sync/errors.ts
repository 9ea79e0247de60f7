import { TufMirrorError } from '../lib/errors';

/** Why a sync failed, or why one part of it (a delegated role, a target) was not mirrored: TUF's own vocabulary plus the transport's. */
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
  // Names and caps (sync/walk.ts): each refuses one role or target, never the whole run.
  | 'ROLE_NAME_UNSAFE' // a delegated role name clients could not fetch safely, or would fetch at different paths
  | 'TARGET_NAME_UNSAFE' // a target name that is not a plain relative path, or that a URL would read otherwise
  | 'UNSAFE_PATH' // a source asked for a path outside the repository (defence in depth: names are refused before)
  | 'TOO_MANY_DELEGATIONS' // more delegated roles than sync.maxDelegatedRoles
  | 'SUCCINCT_DELEGATION_TOO_LARGE' // a succinct (hash-bin) delegation expanding to more roles than sync.maxDelegatedRoles
  | 'PATH_COLLISION' // two different files of one generation at the same path
  // Imports (sync/archive.ts): the archive is only transport, these say what is wrong with it as such.
  | 'ARCHIVE_INVALID' // not a tar.gz, truncated, or a member that is not a plain, unique, regular file
  | 'ARCHIVE_MANIFEST_MISMATCH' // manifest.json does not describe the members (a file changed, added, dropped)
  | 'ARCHIVE_INCOMPLETE' // a file the verified metadata needs is not in the archive
  | 'INTERNAL';

export class SyncError extends TufMirrorError<SyncErrorCode> {
  /** The HTTP status, for UPSTREAM_HTTP_ERROR. */
  readonly status?: number;

  constructor(
    code: SyncErrorCode,
    message: string,
    /** The role (or `targets/<path>`) the failure is about, when known. */
    readonly role?: string,
    options?: { cause?: unknown; status?: number },
  ) {
    super(code, message, options);
    this.status = options?.status;
  }

  /** The same failure, about `role` (a source does not know which role a path belongs to). */
  about(role: string): SyncError {
    return new SyncError(this.code, this.message, role, { cause: this.cause, status: this.status });
  }
}

/** Failures of the path to the source rather than of what it sent: a run that meets one fails and is retried whole. */
export function isTransportFailure(err: SyncError): boolean {
  if (err.code === 'UPSTREAM_HTTP_ERROR') return err.status !== 403 && err.status !== 404;
  return err.code === 'UPSTREAM_UNREACHABLE' || err.code === 'UPSTREAM_TIMEOUT' || err.code === 'CANCELLED' || err.code === 'INTERNAL';
}

/** NOTHING_HELD: no generation to export. SINCE_ROOT: --since-root names a root this mirror does not have. */
export class ExportError extends TufMirrorError<'NOTHING_HELD' | 'SINCE_ROOT'> {}
