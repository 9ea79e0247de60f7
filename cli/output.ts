import * as path from 'node:path';
import { systemCode, TufMirrorError } from '../lib/errors';
import { writeAtomically } from '../lib/atomic-file';

/** An output file the command could not write (exit 1): the disk, not the request. */
export class OutputError extends TufMirrorError<'CANNOT_WRITE'> {
  constructor(message: string) {
    super('CANNOT_WRITE', message);
  }
}

/**
 * Write aside in the same folder, then rename over: a reader (kubectl apply, an import on the
 * other side of the gap) never sees half a file.
 */
export function writeOutput(file: string, bytes: Buffer | string): void {
  const target = path.resolve(file);
  try {
    writeAtomically(target, bytes);
  } catch (err) {
    throw new OutputError(`cannot write ${target}: ${systemCode(err) ?? String(err)}`);
  }
}
