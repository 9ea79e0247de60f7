import { TufMirrorError } from '../lib/errors';

/** A request field the verifier cannot use: the message names the field (`image: required, …`). */
export class VerifyRequestError extends TufMirrorError<'BAD_REQUEST'> {
  constructor(field: string, message: string) {
    super('BAD_REQUEST', `${field}: ${message}`, { details: { field } });
  }
}
