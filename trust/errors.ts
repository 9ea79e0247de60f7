/** Why a trust-root output could not be produced. Each code says whose move it is. */
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
  | 'NOTHING_VALID'; // every certificate authority is outside its validity window

export class TrustRootError extends Error {
  constructor(
    readonly code: TrustRootErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TrustRootError';
  }
}

/** What each code means over HTTP: 4xx is the request's fault, 503 "not yet", 422 "not in this shape". */
export const HTTP_STATUS: Record<TrustRootErrorCode, number> = {
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
};

/** Which cli/options.ts EXIT code each maps to: usage 2, config 3, failed 1. */
export const EXIT_KIND: Record<TrustRootErrorCode, 'usage' | 'config' | 'failed'> = {
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
};
