/**
 * The few tar (POSIX ustar/pax) records a mirrorFS archive needs, written by hand: the archive
 * writer must know the exact offset of every member's data (see mirror-fs.ts), and the same input
 * must give the same bytes, so there is no mtime, owner or directory entry that could vary.
 */

export const BLOCK = 512;

/** Zero bytes that round `size` up to a whole tar block. */
export const padding = (size: number): Buffer => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);

/** The end-of-archive marker: two zero blocks. */
export const trailer = (): Buffer => Buffer.alloc(2 * BLOCK);

type Typeflag = '0' | 'x' | 'g';

function octal(value: number, width: number): string {
  // width - 1 digits and a NUL, as every reader accepts.
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function headerBlock(name: string, prefix: string, size: number, type: Typeflag): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(0o644, 8), 100, 'ascii'); // mode
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(0, 12), 136, 'ascii'); // mtime: fixed, so the same files give the same bytes
  h.write('        ', 148, 'ascii'); // checksum placeholder: spaces while summing
  h.write(type, 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 'ascii');
  return h;
}

/** One pax record, "<len> <key>=<value>\n", where <len> counts the whole record including itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLength = Buffer.byteLength(body);
  let length = bodyLength + 1;
  while (String(length).length + bodyLength !== length) length = String(length).length + bodyLength;
  return `${length}${body}`;
}

/** ustar's name/prefix split (name ≤ 100 bytes, prefix ≤ 155, split at a slash), if the path fits. */
function splitUstar(path: string): { name: string; prefix: string } | undefined {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: '' };
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name) return { name, prefix };
  }
  return undefined;
}

/**
 * The header record(s) of a regular file: one ustar block, or, for a path ustar cannot hold, a
 * pax extended header carrying the path followed by the ustar block. Always whole blocks.
 */
export function fileHeader(path: string, size: number): Buffer {
  const split = splitUstar(path);
  if (split) return headerBlock(split.name, split.prefix, size, '0');
  const records = Buffer.from(paxRecord('path', path), 'utf8');
  return Buffer.concat([
    headerBlock('PaxHeader', '', records.length, 'x'),
    records,
    padding(records.length),
    headerBlock(path.slice(-100).replace(/^[^/]*\//, ''), '', size, '0'),
  ]);
}

/**
 * A filler of exactly `length` bytes (a multiple of 512, at least 512): a pax global header whose
 * only record is a comment. Readers apply or ignore it and create no file for it (Go's archive/tar
 * hands it to the caller as type 'g', which policy-controller's loader skips).
 */
export function filler(length: number): Buffer {
  if (length < BLOCK || length % BLOCK !== 0) throw new Error(`filler length ${length} is not a positive multiple of ${BLOCK}`);
  const dataLength = length - BLOCK;
  if (dataLength === 0) return headerBlock('pax_global_header', '', 0, 'g');
  // The record fills the data blocks exactly, so no padding follows it.
  const fixed = ' comment=\n'.length + String(dataLength).length;
  const record = `${dataLength} comment=${'.'.repeat(dataLength - fixed)}\n`;
  return Buffer.concat([headerBlock('pax_global_header', '', dataLength, 'g'), Buffer.from(record, 'ascii')]);
}
