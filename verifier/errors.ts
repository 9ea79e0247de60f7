import { TufMirrorError } from '../lib/errors';

/** A request field the verifier cannot use: the message names the field (`image: required, …`). */
export class VerifyRequestError extends TufMirrorError<'BAD_REQUEST'> {
  constructor(field: string, message: string) {
    super('BAD_REQUEST', `${field}: ${message}`, { details: { field } });
  }
}

export type RegistryErrorCode =
  | 'REGISTRY_NOT_ALLOWED'
  | 'REGISTRY_ADDRESS_REFUSED'
  | 'REGISTRY_UNREACHABLE'
  | 'REGISTRY_TIMEOUT'
  | 'REGISTRY_HTTP_ERROR'
  | 'REGISTRY_BAD_RESPONSE'
  | 'REGISTRY_AUTH_FAILED'
  | 'RESPONSE_TOO_LARGE'
  | 'DIGEST_MISMATCH'
  | 'NOT_FOUND';

export class RegistryError extends TufMirrorError<RegistryErrorCode> {
  constructor(
    code: RegistryErrorCode,
    message: string,
    /** The registry's own HTTP status, when it answered. */
    registryStatus?: number,
    /** The code of its OCI error body (`MANIFEST_UNKNOWN`, …), when it gave one; never its text. */
    registryCode?: string,
  ) {
    // Refused before asking: the image named a registry we may not ask.
    const field = code === 'REGISTRY_NOT_ALLOWED' || code === 'REGISTRY_ADDRESS_REFUSED' ? 'image' : undefined;
    super(code, message, { details: { ...(field ? { field } : {}), ...(registryStatus !== undefined ? { registryStatus } : {}), ...(registryCode !== undefined ? { registryCode } : {}) } });
  }
}

export class NoTrustRootError extends TufMirrorError<'UNKNOWN_REPOSITORY' | 'NO_GENERATION' | 'NO_TRUSTED_ROOT'> {
  constructor(code: 'UNKNOWN_REPOSITORY' | 'NO_GENERATION' | 'NO_TRUSTED_ROOT', message: string) {
    super(code, message, { details: { field: 'repository' } });
  }
}
