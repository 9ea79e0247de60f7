/**
 * The tar.gz container of an export archive: a deterministic writer and a defensive reader.
 *
 * Nothing here knows TUF. The writer makes the same bytes from the same members (sorted by the
 * caller, fixed mtime/uid/gid/mode/owner names, fixed gzip header). The reader treats its input
 * as hostile: it caps the compressed and the unpacked size, and accepts only regular files with
 * plain relative paths, each once. Members are held in memory: an archive is one generation, and
 * the server holds every served generation in memory anyway.
 */
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { unsafePathReason } from '../lib/layout';
import { BLOCK, memberHeader, padding, trailer, type MemberType } from '../lib/tar';
import { SyncError } from './errors';

export type TarMember = {
  path: string;
  bytes: Buffer;
  /** Only tests write other types (links, directories), to prove the reader refuses them. */
  type?: MemberType;
  linkpath?: string;
};

/** GNU and BSD tar pad archives to 20 blocks; so do we, for tools that expect it. */
const RECORD = 20 * BLOCK;
/** gzip header byte 9: the OS field. 255 ("unknown") rather than whatever the zlib build writes. */
const GZIP_OS_UNKNOWN = 255;

/** A tar.gz of `members`, in the order given. Same members, same bytes (with the same zlib). */
export function packTarGz(members: TarMember[]): Buffer {
  const blocks: Buffer[] = [];
  for (const m of members) {
    const type = m.type ?? 'File';
    const size = type === 'File' ? m.bytes.length : 0;
    blocks.push(memberHeader(m.path, size, type, m.linkpath));
    if (size) blocks.push(m.bytes, padding(size));
  }
  blocks.push(trailer());
  let tar = Buffer.concat(blocks);
  if (tar.length % RECORD) tar = Buffer.concat([tar, Buffer.alloc(RECORD - (tar.length % RECORD))]);
  const gz = zlib.gzipSync(tar, { level: 9 });
  // Node writes mtime 0 and no file name already; pin the OS byte too.
  gz.writeUInt32LE(0, 4);
  gz[9] = GZIP_OS_UNKNOWN;
  return gz;
}

export type TarReadLimits = {
  /** Cap on the compressed input and on the unpacked tar stream alike (a gzip bomb stops here). */
  maxBytes: number;
  /** How the input is named in error messages. */
  name: string;
};

const invalid = (name: string, why: string): SyncError => new SyncError('ARCHIVE_INVALID', `${name}: ${why}`);
const tooLarge = (name: string, max: number, what: string): SyncError => new SyncError('RESPONSE_TOO_LARGE', `${name}: ${what} more than the ${max} bytes allowed (import.maxBytes)`);

/**
 * Every member of a tar.gz, by path. Throws SyncError: ARCHIVE_INVALID for anything that is not
 * a well-formed gzip'd tar of uniquely named regular files with safe paths (truncated, corrupt,
 * links, directories, devices, duplicates), RESPONSE_TOO_LARGE past `maxBytes`.
 */
export async function readTarGz(input: Readable, limits: TarReadLimits): Promise<Map<string, Buffer>> {
  const { name, maxBytes } = limits;
  const members = new Map<string, Buffer>();
  let failure: SyncError | undefined;
  const fail = (err: SyncError): void => {
    failure ??= err;
  };

  // zstd and brotli off: the tar inside our gzip is read as is, never decompressed again.
  const parser = new Parser({ strict: true, zstd: false, brotli: false, maxMetaEntrySize: 64 * 1024 });
  parser.on('entry', (entry: ReadEntry) => {
    const why =
      entry.type !== 'File' && entry.type !== 'OldFile'
        ? `${entry.type} entries are not accepted, only regular files`
        : (unsafePathReason(entry.path) ?? (members.has(entry.path) ? 'a second member with this name' : undefined));
    if (why) {
      fail(invalid(name, `member "${printable(entry.path)}": ${why}`));
      entry.resume();
      return;
    }
    const chunks: Buffer[] = [];
    members.set(entry.path, Buffer.alloc(0)); // claims the name at once: a duplicate is caught whatever the timing
    entry.on('data', (c: Buffer) => chunks.push(c));
    entry.on('end', () => members.set(entry.path, Buffer.concat(chunks)));
  });
  parser.on('error', (err: Error) => fail(invalid(name, `not a valid tar archive: ${err.message}`)));
  // Settles either way: a strict parser reports an error, then may or may not end.
  const parsed = new Promise<void>((resolve) => {
    parser.on('end', () => resolve());
    parser.on('error', () => resolve());
  });

  // The first error of any stage: pipeline() may report a later AbortError instead.
  let first: unknown;
  const stop = (err: unknown): unknown => (first ??= err);

  let compressed = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      compressed += chunk.length;
      if (compressed === chunk.length && !(chunk[0] === 0x1f && (chunk.length < 2 || chunk[1] === 0x8b))) {
        done(stop(invalid(name, 'not gzip-compressed (a .tar.gz is expected)')) as Error);
        return;
      }
      if (compressed > maxBytes) done(stop(tooLarge(name, maxBytes, 'the archive is')) as Error);
      else done(null, chunk);
    },
  });
  const gunzip = zlib.createGunzip();
  gunzip.on('error', stop);

  let unpacked = 0;
  let head: Buffer | undefined = Buffer.alloc(0); // the first block, until it is checked
  try {
    await pipeline(input, counter, gunzip, async (tar: AsyncIterable<Buffer>) => {
      for await (let chunk of tar) {
        unpacked += chunk.length;
        if (unpacked > maxBytes) throw stop(tooLarge(name, maxBytes, 'its unpacked content is'));
        if (head) {
          head = Buffer.concat([head, chunk]);
          if (head.length < BLOCK) continue;
          if (!looksLikeTar(head)) throw stop(invalid(name, 'the gzip stream does not hold a tar archive'));
          [chunk, head] = [head, undefined];
        }
        parser.write(chunk);
        if (failure) throw stop(failure);
      }
      if (head) throw stop(invalid(name, 'the gzip stream does not hold a tar archive'));
      parser.end();
    });
  } catch (caught) {
    if (compressed === 0) throw invalid(name, 'empty input (a .tar.gz is expected)');
    const err = first ?? caught;
    if (err instanceof SyncError) throw err;
    const code = (err as { code?: string }).code;
    // zlib reports a truncated stream as Z_BUF_ERROR "unexpected end of file".
    if (code?.startsWith('Z_') || code === 'ERR_ZLIB') throw invalid(name, `corrupt or truncated gzip data (${(err as Error).message})`);
    throw err;
  }
  if (compressed === 0) throw invalid(name, 'empty input (a .tar.gz is expected)');
  await parsed;
  if (failure) throw failure;
  return members;
}

/** A ustar/pax/GNU header block: "ustar" at offset 257. Also refuses a gzip nested in the gzip. */
function looksLikeTar(first: Buffer): boolean {
  return first.length >= BLOCK && first.subarray(257, 262).toString('latin1') === 'ustar' && !(first[0] === 0x1f && first[1] === 0x8b);
}

function printable(p: string): string {
  // eslint-disable-next-line no-control-regex
  return p.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`).slice(0, 200);
}
