import { RegistryError } from './oci';
import { PolicyError } from '../lib/policy';
import { ReferenceError } from './reference';
import { NoTrustRootError, TrustRootError } from './trust-root';

/** A request the verifier cannot answer with verified true/false, as an HTTP status and JSON body. */
export type ErrorAnswer = {
  status: number;
  body: { error: { code: string; message: string; field?: string; issues?: string[]; registryStatus?: number; registryCode?: string } };
};

export class VerifyRequestError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'VerifyRequestError';
  }
}

/** Map what went wrong to an answer; undefined for a bug (the server's 500 handler takes it). */
export function errorAnswer(err: unknown): ErrorAnswer | undefined {
  if (err instanceof VerifyRequestError) return { status: 400, body: { error: { code: 'BAD_REQUEST', field: err.field, message: err.message } } };
  if (err instanceof PolicyError) {
    const field = /^([^:]+):/.exec(err.issues[0] ?? '')?.[1] ?? 'policy';
    return { status: 400, body: { error: { code: 'BAD_POLICY', field, message: err.message, issues: err.issues } } };
  }
  if (err instanceof ReferenceError) return { status: 400, body: { error: { code: 'BAD_REQUEST', field: 'image', message: `image: ${err.message}` } } };
  if (err instanceof NoTrustRootError) {
    return { status: err.code === 'UNKNOWN_REPOSITORY' ? 404 : 503, body: { error: { code: err.code, field: 'repository', message: err.message } } };
  }
  if (err instanceof TrustRootError) return { status: 503, body: { error: { code: 'BAD_TRUSTED_ROOT', message: err.message } } };
  if (err instanceof RegistryError) {
    const status = err.code === 'REGISTRY_NOT_ALLOWED' || err.code === 'REGISTRY_ADDRESS_REFUSED' ? 403 : err.code === 'NOT_FOUND' ? 404 : err.code === 'REGISTRY_TIMEOUT' ? 504 : 502;
    return {
      status,
      body: {
        error: {
          code: err.code,
          ...(err.code === 'REGISTRY_NOT_ALLOWED' || err.code === 'REGISTRY_ADDRESS_REFUSED' ? { field: 'image' } : {}),
          message: err.message,
          ...(err.registryStatus !== undefined ? { registryStatus: err.registryStatus } : {}),
          ...(err.registryCode !== undefined ? { registryCode: err.registryCode } : {}),
        },
      },
    };
  }
  return undefined;
}
