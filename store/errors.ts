/** What keeps the store from opening; the CLI reports it as a configuration problem (exit code 3). */
export type StoreErrorCode = 'DATA_DIR_NOT_WRITABLE';

export class StoreError extends Error {
  constructor(
    message: string,
    readonly code: StoreErrorCode,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}
