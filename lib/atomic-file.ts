import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** `.<name>.tmp-<pid>-<random>`: the writer's pid in the name, so a later writer can tell a killed one's leftovers. */
const TEMPORARY = /^\..+\.tmp-(\d+)-[0-9a-f]{8}$/;

/** Write `bytes` to a new temporary name beside `final` and fsync it; the caller renames or links it into place. */
export function writeTemporary(final: string, bytes: Buffer | string): string {
  const tmp = path.join(path.dirname(final), `.${path.basename(final)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const data = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  const fd = fs.openSync(tmp, 'wx', 0o644);
  try {
    let off = 0;
    while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  return tmp;
}

/**
 * Write aside in the same folder, then rename over: a reader (a web server, kubectl apply, an
 * import on the other side of the gap) sees the old file or the new one, never half of one.
 */
export function writeAtomically(final: string, bytes: Buffer | string): void {
  const tmp = writeTemporary(final, bytes);
  try {
    fs.renameSync(tmp, final);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** Temporary files a killed writer left behind in these folders (its pid is gone). */
export function removeStaleTemporaries(dirs: Iterable<string>): void {
  for (const dir of dirs) {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue; // not there yet
    }
    for (const name of names) {
      const m = TEMPORARY.exec(name);
      if (!m) continue;
      try {
        process.kill(Number(m[1]), 0);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ESRCH') fs.rmSync(path.join(dir, name), { force: true });
      }
    }
  }
}
