import { createHash } from 'node:crypto';

/** What signed metadata says a file is: its exact length and its digests, algorithm → lowercase hex. */
export type SignedFileInfo = { length: number; hashes: Record<string, string> };

/**
 * The file `info` describes, checked: its sha256 (computed once, whether or not it is one of the
 * listed hashes: it is the file's address in the store), or why `bytes` is not that file. The
 * length and EVERY listed hash must match. A file is only ever stored, served or handed out
 * under a hash it has, whichever hash a client picks to name it. An algorithm Node does not know
 * is a mismatch, as it is for tuf-js.
 */
export function checkFile(bytes: Uint8Array, info: SignedFileInfo): { sha256: string } | { mismatch: string } {
  if (bytes.length !== info.length) return { mismatch: `expected ${info.length} bytes, got ${bytes.length}` };
  const algorithms = Object.keys(info.hashes);
  if (algorithms.length === 0) return { mismatch: 'no hash is listed' };
  let sha256: string | undefined;
  for (const algorithm of algorithms) {
    let actual: string;
    try {
      actual = createHash(algorithm).update(bytes).digest('hex');
    } catch {
      return { mismatch: `hash algorithm ${algorithm} is not supported` };
    }
    if (actual !== info.hashes[algorithm]) return { mismatch: `${algorithm} is ${actual}, expected ${info.hashes[algorithm]}` };
    if (algorithm === 'sha256') sha256 = actual;
  }
  return { sha256: sha256 ?? createHash('sha256').update(bytes).digest('hex') };
}

/** Why `bytes` is not the file `info` describes (see checkFile), or undefined if it is. */
export function lengthOrHashMismatch(bytes: Uint8Array, info: SignedFileInfo): string | undefined {
  const checked = checkFile(bytes, info);
  return 'mismatch' in checked ? checked.mismatch : undefined;
}
