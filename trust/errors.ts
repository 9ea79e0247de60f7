/** Why a trust-root output could not be produced: one class with the verifier's (lib/errors.ts), whose codes say whose move it is. */
export { TrustRootError, type TrustRootErrorCode } from '../lib/errors';
