import { TufMirrorError } from '../lib/errors';

/** DATA_DIR_NOT_WRITABLE: the data dir (or its database) cannot be written; the operator's to fix. */
export type StoreErrorCode = 'DATA_DIR_NOT_WRITABLE';

export class StoreError extends TufMirrorError<StoreErrorCode> {}
