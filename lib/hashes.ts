import { createHash } from 'node:crypto';

/** What signed metadata says a file is: its exact length and its digests, algorithm → lowercase hex. */
export type SignedFileInfo = { length: number; hashes: Record<string, string> };

/**
 * Why `bytes` is not the file `info` describes, or undefined if it is: the length and EVERY
 * listed hash must match. A file is only ever stored, served or handed out under a hash it has,
 * whichever hash a client picks to name it. An algorithm Node does not know is a mismatch, as it
 * is for tuf-js.
 */
export function lengthOrHashMismatch(bytes: Uint8Array, info: SignedFileInfo): string | undefined {
  if (bytes.length !== info.length) return `expected ${info.length} bytes, got ${bytes.length}`;
  const algorithms = Object.keys(info.hashes);
  if (algorithms.length === 0) return 'no hash is listed';
  for (const algorithm of algorithms) {
    let actual: string;
    try {
      actual = createHash(algorithm).update(bytes).digest('hex');
    } catch {
      return `hash algorithm ${algorithm} is not supported`;
    }
    if (actual !== info.hashes[algorithm]) return `${algorithm} is ${actual}, expected ${info.hashes[algorithm]}`;
  }
  return undefined;
}
