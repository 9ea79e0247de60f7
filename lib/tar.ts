/**
 * The tar (POSIX ustar/pax) records both of our archives write: sync's export and trust's
 * mirrorFS. Headers come from the `tar` package with every field that could vary fixed (mode,
 * owner, mtime), so the same members give the same bytes; and each record's length is known
 * before it is written, which mirror-fs.ts needs to place every member's data where it chooses.
 */
import { Header, Pax } from 'tar';

export const BLOCK = 512;

/** Every header carries these, so that an archive depends on nothing but its members. */
const FIXED = { mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: new Date(0) } as const;

/** Only tests write other types than File (links, directories), to prove the readers refuse them. */
export type MemberType = 'File' | 'SymbolicLink' | 'Link' | 'Directory' | 'CharacterDevice' | 'FIFO';

/** Zero bytes that round `size` up to a whole tar block. */
export const padding = (size: number): Buffer => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);

/** The end-of-archive marker: two zero blocks. */
export const trailer = (): Buffer => Buffer.alloc(2 * BLOCK);

/**
 * The header record(s) of a member: one ustar block, preceded, for a path ustar cannot hold, by
 * a pax extended header naming the path (nothing else: a pax mtime or atime would make the bytes
 * depend on the clock). Always whole blocks.
 */
export function memberHeader(path: string, size: number, type: MemberType = 'File', linkpath?: string): Buffer {
  const block = Buffer.alloc(BLOCK);
  const needsPax = new Header({ ...FIXED, path, size, type, linkpath: linkpath ?? '' }).encode(block);
  return needsPax ? Buffer.concat([new Pax({ path, linkpath }).encode(), block]) : block;
}

/** The header record(s) of a regular file of `size` bytes. */
export const fileHeader = (path: string, size: number): Buffer => memberHeader(path, size);

/**
 * A filler of exactly `length` bytes (a multiple of 512, at least 512): a pax global header whose
 * only record is a comment. Readers apply or ignore it and create no file for it (Go's archive/tar
 * hands it to the caller as type 'g', which policy-controller's loader skips).
 */
export function filler(length: number): Buffer {
  if (length < BLOCK || length % BLOCK !== 0) throw new Error(`filler length ${length} is not a positive multiple of ${BLOCK}`);
  const dataLength = length - BLOCK;
  if (dataLength === 0) {
    const block = Buffer.alloc(BLOCK);
    new Header({ ...FIXED, path: 'pax_global_header', size: 0, type: 'GlobalExtendedHeader' }).encode(block);
    return block;
  }
  // "<len> comment=<dots>\n" fills the data blocks exactly, so no padding follows it.
  const fixed = ' comment=\n'.length + String(dataLength).length;
  const record = new Pax({ comment: '.'.repeat(dataLength - fixed) }, true).encode();
  if (record.length !== length) throw new Error(`filler of ${length} bytes came out ${record.length}`);
  return record;
}
