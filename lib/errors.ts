/**
 * The one error vocabulary (sigstore-js style): every failure a module can name is a
 * TufMirrorError with a `code` from that module's union, the underlying error kept as `cause`.
 * What a code means to a caller is decided in exactly one place each: the HTTP status in
 * server/http-errors.ts, the exit code in cli/exit-codes.ts. Anything else that escapes is a bug.
 */

/** Structured facts a caller may act on, carried to the JSON answer beside code and message. */
export type ErrorDetails = {
  /** The request field (or config key) at fault, e.g. `image`, `policy.anyOf.minimumMatches`. */
  field?: string;
  /** Every problem found, `field: message`, when there were several. */
  issues?: readonly string[];
  /** A registry's own HTTP status and OCI error code (never its text), when it answered. */
  registryStatus?: number;
  registryCode?: string;
};

export type ErrorOptions = { cause?: unknown; details?: ErrorDetails };

/** An error as a caller reads it: the `error` of an HTTP answer, of `--json`, an admission denial's reason. */
export type PublicError = { code: string; message: string } & ErrorDetails;

export class TufMirrorError<Code extends string = string> extends Error {
  readonly details: ErrorDetails;

  constructor(
    readonly code: Code,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.details = options?.details ?? {};
  }

  /** Code, the field at fault, message, then the other details (never the cause: it may hold what a caller must not see). */
  toJSON(): PublicError {
    return publicError(this.code, this.message, this.details);
  }
}

/** The code Node or a library gave a system error (`ENOENT`, `EADDRINUSE`, `SQLITE_BUSY`, `Z_BUF_ERROR`), if any. */
export function systemCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  return typeof err.code === 'string' ? err.code : undefined;
}

/** What a caller reads of a failure, in the order every answer lists it. */
export function publicError(code: string, message: string, details: ErrorDetails = {}): PublicError {
  const { field, ...rest } = details;
  return { code, ...(field !== undefined ? { field } : {}), message, ...rest };
}

/** Why a trust root (trusted_root.json) could not be handed out or used. Each code says whose move it is. */
export type TrustRootErrorCode =
  // The caller asked for something this command cannot mean: fix the request.
  | 'UNKNOWN_FORMAT'
  | 'UNKNOWN_TARGET' // --targets names a target the generation does not hold
  | 'INVALID_NAME' // --name / --namespace is not a Kubernetes object name
  | 'INVALID_MIRROR_URL'
  | 'IDENTITY_REQUIRED' // a policy output without --issuer and a subject, or without --image
  | 'INVALID_IDENTITY' // a malformed issuer, subject, regexp or image glob, or one the consumer cannot express
  // The deployment lacks a setting: fix the config or pass the flag.
  | 'MIRROR_URL_REQUIRED'
  // The repository cannot be handed out (yet, or in this shape).
  | 'NO_GENERATION' // nothing verified held yet: sync first
  | 'TARGET_MISSING' // a target the format is built from (trusted_root.json) is not in the repository
  | 'TARGET_INVALID' // that target is not what its name says (e.g. trusted_root.json that is not a trusted root)
  | 'MEMBER_TOO_LARGE' // a file that policy-controller's one-read archive loader can never read whole
  | 'NOTHING_VALID' // every certificate authority is outside its validity window
  // The verifier cannot build trust material from the served trusted_root.json.
  | 'BAD_TRUSTED_ROOT';

/**
 * Shared by trust/ (the outputs handed out) and verifier/ (the material it verifies with): both
 * read the same trusted_root.json, so it lives below both.
 */
export class TrustRootError extends TufMirrorError<TrustRootErrorCode> {}
