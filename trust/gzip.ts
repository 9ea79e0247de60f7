import * as zlib from 'node:zlib';

/** Deflate's window: a back-reference reaches at most this far, and Go's inflater hands out output in pieces of at most this size. */
export const WINDOW = 32 * 1024;

/**
 * gzip of `segments` concatenated, with a sync flush at the end of every segment: the deflate
 * stream byte-aligns there with an empty stored block, which is where Go's inflater ends a Read.
 *
 * Each segment is compressed by its own deflateRawSync call with the previous 32 KiB of input as
 * its preset dictionary and Z_SYNC_FLUSH as its last flush. That is exactly the state one
 * streaming compressor would be in after a sync flush (same window, no final block yet), so the
 * pieces concatenate into one valid stream, written synchronously. The last segment finishes the
 * stream. The gzip header is fixed (no mtime, no name, OS "unknown"), so the same segments give the
 * same bytes with the same zlib.
 */
export function gzipWithFlushes(segments: Buffer[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x02, 0xff])];
  let crc = 0;
  let size = 0;
  let history = Buffer.alloc(0);
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    const options: zlib.ZlibOptions = {
      level: 9,
      memLevel: 9,
      windowBits: 15,
      finishFlush: last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
    };
    if (history.length) options.dictionary = history;
    parts.push(zlib.deflateRawSync(segment, options));
    crc = zlib.crc32(segment, crc);
    size += segment.length;
    history = Buffer.concat([history, segment]).subarray(-WINDOW);
  });
  if (!segments.length) parts.push(zlib.deflateRawSync(Buffer.alloc(0)));
  const tail = Buffer.alloc(8);
  tail.writeUInt32LE(crc >>> 0, 0);
  tail.writeUInt32LE(size % 2 ** 32, 4);
  parts.push(tail);
  return Buffer.concat(parts);
}
