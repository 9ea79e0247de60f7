/**
 * The one place an error becomes an HTTP status: every router, the verification worker and the
 * fast path answer a failure with `errorAnswer`, so the same code means the same status
 * wherever it surfaces. 4xx: the request's fault; 409: someone else is at it; 422: what was sent
 * (or what the upstream sent) failed verification or cannot be shaped as asked; 500: this
 * mirror's own trouble; 502/504: the party behind us; 503: not yet, or shutting down.
 */
import type { Response } from 'express';
import { BoundedJsonError } from '../lib/bounded-json';
import { publicError, TrustRootError, TufMirrorError, type ErrorDetails, type PublicError, type TrustRootErrorCode } from '../lib/errors';
import { SyncError, type SyncErrorCode } from '../sync/errors';
import { NoTrustRootError, RegistryError, VerifyRequestError, type RegistryErrorCode } from '../verifier/errors';
import { PolicyError } from '../lib/policy';
import { ImageReferenceError } from '../verifier/reference';

/** A failure as an HTTP answer: the status and the JSON body `{ "error": { code, message, … } }`. */
export type ErrorAnswer = { status: number; body: { error: PublicError } };

/**
 * A sync or an import that failed. Where the repository's bytes came from decides one code: too
 * many from the upstream is the upstream's fault (502), too many in an upload is the caller's (413).
 */
const SYNC_STATUS: Record<SyncErrorCode, number> = {
  UPSTREAM_UNREACHABLE: 502,
  UPSTREAM_TIMEOUT: 504,
  UPSTREAM_HTTP_ERROR: 502,
  RESPONSE_TOO_LARGE: 502,
  UNSIGNED_METADATA: 422,
  BAD_VERSION: 422,
  EXPIRED_METADATA: 422,
  LENGTH_OR_HASH_MISMATCH: 422,
  MALFORMED_METADATA: 422,
  REPOSITORY_ERROR: 422,
  TRUST_ANCHOR_INVALID: 500, // this mirror's configuration, not what was sent
  SYNC_IN_PROGRESS: 409,
  CANCELLED: 503,
  ROLE_NAME_UNSAFE: 422,
  TARGET_NAME_UNSAFE: 422,
  UNSAFE_PATH: 422,
  TOO_MANY_DELEGATIONS: 422,
  SUCCINCT_DELEGATION_TOO_LARGE: 422,
  PATH_COLLISION: 422,
  ARCHIVE_INVALID: 400, // not a tar.gz, or not one we accept
  ARCHIVE_MANIFEST_MISMATCH: 422,
  ARCHIVE_INCOMPLETE: 422,
  INTERNAL: 500,
};

/** A trust-root output, or the verifier's trust material: 503 "not yet", 422 "not in this shape". */
const TRUST_ROOT_STATUS: Record<TrustRootErrorCode, number> = {
  UNKNOWN_FORMAT: 400,
  UNKNOWN_TARGET: 400,
  INVALID_NAME: 400,
  INVALID_MIRROR_URL: 400,
  IDENTITY_REQUIRED: 400,
  INVALID_IDENTITY: 400,
  MIRROR_URL_REQUIRED: 400,
  NO_GENERATION: 503,
  TARGET_MISSING: 422,
  TARGET_INVALID: 422,
  MEMBER_TOO_LARGE: 422,
  NOTHING_VALID: 422,
  BAD_TRUSTED_ROOT: 503, // the served trusted_root.json cannot be used: a later generation may fix it
};

/** A registry an image verification asked: refused before asking (403), or the registry's answer. */
const REGISTRY_STATUS: Record<RegistryErrorCode, number> = {
  REGISTRY_NOT_ALLOWED: 403,
  REGISTRY_ADDRESS_REFUSED: 403,
  NOT_FOUND: 404,
  REGISTRY_TIMEOUT: 504,
  REGISTRY_UNREACHABLE: 502,
  REGISTRY_HTTP_ERROR: 502,
  REGISTRY_BAD_RESPONSE: 502,
  REGISTRY_AUTH_FAILED: 502,
  RESPONSE_TOO_LARGE: 502,
  DIGEST_MISMATCH: 502,
};

const NO_TRUST_ROOT_STATUS: Record<NoTrustRootError['code'], number> = { UNKNOWN_REPOSITORY: 404, NO_GENERATION: 503, NO_TRUSTED_ROOT: 503 };
const BODY_STATUS: Record<BoundedJsonError['code'], number> = { TOO_LARGE: 413, TOO_DEEP: 400, NOT_JSON: 400 };

/** Where a sync's bytes came from: an upstream it fetched, or the request (an uploaded archive). */
export type Via = 'upstream' | 'request';

/** The status of a failure that is an answer; undefined for anything else (a bug: the caller's 500). */
export function httpStatusOf(err: unknown, via: Via = 'upstream'): number | undefined {
  if (!(err instanceof TufMirrorError)) return undefined;
  if (err instanceof SyncError) return via === 'request' && err.code === 'RESPONSE_TOO_LARGE' ? 413 : SYNC_STATUS[err.code];
  if (err instanceof TrustRootError) return TRUST_ROOT_STATUS[err.code];
  if (err instanceof RegistryError) return REGISTRY_STATUS[err.code];
  if (err instanceof NoTrustRootError) return NO_TRUST_ROOT_STATUS[err.code];
  if (err instanceof BoundedJsonError) return BODY_STATUS[err.code];
  if (err instanceof VerifyRequestError || err instanceof PolicyError || err instanceof ImageReferenceError) return 400;
  return undefined;
}

/** What went wrong as an answer; undefined for a bug (the server's 500 handler takes it). */
export function errorAnswer(err: unknown, via?: Via): ErrorAnswer | undefined {
  const status = httpStatusOf(err, via);
  if (status === undefined || !(err instanceof TufMirrorError)) return undefined;
  return { status, body: { error: err.toJSON() } };
}

/** Refusals by the server itself, before (or instead of) asking a module: the request's shape, its token, the load. */
export type RequestErrorCode =
  | 'BAD_REQUEST'
  | 'BAD_REPORT' // a cluster report that does not validate
  | 'ORIGIN' // a sync asked of a repository signed here
  | 'UNAUTHORIZED'
  | 'ADMIN_DISABLED' // no adminToken: admin endpoints are disabled, never open
  | 'REPORTS_DISABLED'
  | 'VERIFY_DISABLED'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'TIMEOUT' // the body did not arrive in time
  | 'NOT_A_MIRROR' // an import into a repository signed here
  | 'TOO_LARGE'
  | 'TOO_MANY_REQUESTS'
  | 'INTERNAL' // a bug: never with its details
  | 'VERIFIER_RESTARTED';

const REQUEST_STATUS: Record<RequestErrorCode, number> = {
  BAD_REQUEST: 400,
  BAD_REPORT: 400,
  ORIGIN: 400,
  UNAUTHORIZED: 401,
  ADMIN_DISABLED: 403,
  REPORTS_DISABLED: 403,
  VERIFY_DISABLED: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  TIMEOUT: 408,
  NOT_A_MIRROR: 409,
  TOO_LARGE: 413,
  TOO_MANY_REQUESTS: 429,
  INTERNAL: 500,
  VERIFIER_RESTARTED: 503,
};

/** A refusal as an answer; built without an Error (the fast path refuses floods of requests). */
export function refusal(code: RequestErrorCode, message: string, details?: ErrorDetails): ErrorAnswer {
  return { status: REQUEST_STATUS[code], body: { error: publicError(code, message, details) } };
}

/** Answer a refusal through express. */
export function sendRefusal(res: Response, code: RequestErrorCode, message: string, details?: ErrorDetails): void {
  const { status, body } = refusal(code, message, details);
  res.status(status).json(body);
}
