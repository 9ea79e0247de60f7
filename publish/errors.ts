import { TufMirrorError } from '../lib/errors';

export type PublishErrorCode = 'NOTHING_HELD' | 'CONFLICT' | 'UNSAFE_PATH' | 'NOT_A_DIRECTORY' | 'WRITE_FAILED';

export class PublishError extends TufMirrorError<PublishErrorCode> {}
