import { TufMirrorError } from '../lib/errors';

/** Why a bridge did not publish. Nothing is written when one is thrown; the promoted content stays served. */
export type BridgeErrorCode =
  | 'SOURCE_EMPTY' // the source holds no generation yet: sync it first
  | 'SOURCE_NOT_VERIFIED' // the source generation was accepted with --allow-expired, or a delegated role failed
  | 'SOURCE_EXPIRED' // a top-level role of the source generation has expired since it was verified
  | 'SOURCE_DAMAGED' // a target's bytes in the store do not match its signed length and hashes
  | 'UNSAFE_TARGET_NAME' // a source target named so that clients could be sent outside the repository: never re-signed
  | 'GATE_FAILED' // the candidate failed the compatibility gate: held (bridge promote --force overrides)
  | 'NOT_A_BRIDGE';

export class BridgeError extends TufMirrorError<BridgeErrorCode> {}
