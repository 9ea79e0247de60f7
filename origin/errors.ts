import { TufMirrorError } from '../lib/errors';

/** Why an origin operation refused to act. Nothing is written when one is thrown. */
export type OriginErrorCode =
  | 'KEY_UNSUPPORTED'
  | 'KEY_EXISTS'
  | 'KEY_MISSING'
  | 'KEY_INVALID'
  | 'THRESHOLD_NOT_MET' // not enough of a role's keys to sign
  | 'BAD_INPUT' // a certificate, public key, URL or time given on the command line
  | 'NOT_INITIALIZED' // no generation yet: run origin init
  | 'ALREADY_INITIALIZED'
  | 'NOT_AN_ORIGIN'
  | 'VERIFICATION_FAILED'; // what we signed did not pass the TUF client workflow: nothing published

export class OriginError extends TufMirrorError<OriginErrorCode> {}
