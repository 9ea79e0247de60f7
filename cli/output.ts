import * as fs from 'node:fs';
import * as path from 'node:path';
import { systemCode, TufMirrorError } from '../lib/errors';

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
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, bytes);
    fs.renameSync(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new OutputError(`cannot write ${target}: ${systemCode(err) ?? String(err)}`);
  }
}
