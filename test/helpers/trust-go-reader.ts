/**
 * policy-controller's mirrorFS loader, emulated: Go's compress/gzip + compress/flate feeding
 * archive/tar, read the way pkg/tuf UncompressMemFS reads (ONE Read per regular member, a short
 * read ignored). Written from Go's documented and observable behaviour, independent of the writer
 * under test (trust/mirror-fs.ts): it decodes the deflate stream itself.
 *
 * Go's inflater hands out output ("toRead") only when it flushes its window: when the 32 KiB
 * window is full, at an empty stored block (what a sync/full flush writes), and at the end of
 * the final block. A Read returns at most what is left of the current flush, so those positions
 * are where a Read can come back short. Non-final block ends do not flush.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { packageRoot } from '../../lib/paths';
import { tempDir } from './mirror';

export type Inflated = {
  output: Buffer;
  /** Output positions where Go's inflater flushes (a Read cannot cross one). */
  readBoundaries: number[];
  /** Output positions of empty stored blocks: the sync/full flush points. */
  syncFlushes: number[];
  /** Output position at the end of every block (diagnostics). */
  blockEnds: number[];
};

const WINDOW = 32768;
const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

type Huffman = { count: number[]; symbol: number[] };

function huffman(lengths: number[]): Huffman {
  const count = new Array<number>(16).fill(0);
  for (const l of lengths) count[l]++;
  count[0] = 0;
  const offs = new Array<number>(16).fill(0);
  for (let i = 1; i < 16; i++) offs[i] = offs[i - 1] + count[i - 1];
  const symbol = new Array<number>(lengths.length).fill(0);
  lengths.forEach((l, s) => {
    if (l) symbol[offs[l]++] = s;
  });
  return { count, symbol };
}

/** Raw deflate decoder (RFC 1951) that records where Go's inflater would flush. */
export function inflateRawLikeGo(data: Buffer, offset = 0): Inflated & { end: number } {
  let pos = offset;
  let bitBuf = 0;
  let bitCnt = 0;
  const bits = (n: number): number => {
    while (bitCnt < n) {
      if (pos >= data.length) throw new Error('deflate stream truncated');
      bitBuf |= data[pos++] << bitCnt;
      bitCnt += 8;
    }
    const v = bitBuf & ((1 << n) - 1);
    bitBuf >>>= n;
    bitCnt -= n;
    return v;
  };
  const decode = (h: Huffman): number => {
    let code = 0;
    let first = 0;
    let index = 0;
    for (let len = 1; len < 16; len++) {
      code |= bits(1);
      const count = h.count[len];
      if (code - count < first) return h.symbol[index + (code - first)];
      index += count;
      first = (first + count) << 1;
      code <<= 1;
    }
    throw new Error('bad Huffman code');
  };

  const out: number[] = [];
  const readBoundaries: number[] = [];
  const syncFlushes: number[] = [];
  const blockEnds: number[] = [];
  const put = (b: number): void => {
    out.push(b);
    if (out.length % WINDOW === 0) readBoundaries.push(out.length); // window full: flush
  };

  const fixedLit = huffman([...new Array(144).fill(8), ...new Array(112).fill(9), ...new Array(24).fill(7), ...new Array(8).fill(8)]);
  const fixedDist = huffman(new Array(30).fill(5));

  for (let final = 0; !final;) {
    final = bits(1);
    const type = bits(2);
    if (type === 0) {
      bitBuf = 0;
      bitCnt = 0;
      const len = data.readUInt16LE(pos);
      const nlen = data.readUInt16LE(pos + 2);
      if ((len ^ 0xffff) !== nlen) throw new Error('bad stored block length');
      pos += 4;
      if (len === 0) {
        syncFlushes.push(out.length);
        readBoundaries.push(out.length); // Go: f.toRead = f.dict.readFlush()
      }
      for (let i = 0; i < len; i++) put(data[pos + i]);
      pos += len;
    } else if (type === 1 || type === 2) {
      let lit = fixedLit;
      let dist = fixedDist;
      if (type === 2) {
        const nlen = bits(5) + 257;
        const ndist = bits(5) + 1;
        const ncode = bits(4) + 4;
        const clLengths = new Array<number>(19).fill(0);
        for (let i = 0; i < ncode; i++) clLengths[CL_ORDER[i]] = bits(3);
        const cl = huffman(clLengths);
        const lengths: number[] = [];
        while (lengths.length < nlen + ndist) {
          const sym = decode(cl);
          if (sym < 16) lengths.push(sym);
          else if (sym === 16) {
            const prev = lengths[lengths.length - 1];
            for (let r = 3 + bits(2); r > 0; r--) lengths.push(prev);
          } else if (sym === 17) for (let r = 3 + bits(3); r > 0; r--) lengths.push(0);
          else for (let r = 11 + bits(7); r > 0; r--) lengths.push(0);
        }
        lit = huffman(lengths.slice(0, nlen));
        dist = huffman(lengths.slice(nlen));
      }
      for (;;) {
        const sym = decode(lit);
        if (sym < 256) put(sym);
        else if (sym === 256) break;
        else {
          const i = sym - 257;
          const length = LENGTH_BASE[i] + bits(LENGTH_EXTRA[i]);
          const d = decode(dist);
          const distance = DIST_BASE[d] + bits(DIST_EXTRA[d]);
          if (distance > out.length || distance > WINDOW) throw new Error('distance too far back');
          for (let k = 0; k < length; k++) put(out[out.length - distance]);
        }
      }
    } else throw new Error('invalid block type 3');
    blockEnds.push(out.length);
  }
  readBoundaries.push(out.length); // the final block flushes what is left
  return { output: Buffer.from(out), readBoundaries: [...new Set(readBoundaries)].sort((a, b) => a - b), syncFlushes, blockEnds, end: pos };
}

/** A gzip member (RFC 1952) decoded like Go's gzip.Reader, checked against its CRC and size. */
export function gunzipLikeGo(gz: Buffer): Inflated {
  if (gz[0] !== 0x1f || gz[1] !== 0x8b || gz[2] !== 8) throw new Error('not gzip');
  const flags = gz[3];
  let pos = 10;
  if (flags & 4) pos += 2 + gz.readUInt16LE(pos);
  if (flags & 8) while (gz[pos++] !== 0);
  if (flags & 16) while (gz[pos++] !== 0);
  if (flags & 2) pos += 2;
  const inflated = inflateRawLikeGo(gz, pos);
  if (gz.readUInt32LE(inflated.end) !== zlib.crc32(inflated.output)) throw new Error('gzip CRC mismatch');
  if (gz.readUInt32LE(inflated.end + 4) !== inflated.output.length % 2 ** 32) throw new Error('gzip size mismatch');
  const { end: _end, ...rest } = inflated;
  return rest;
}

/** A Go io.Reader over inflated output: a Read never crosses a flush boundary. */
class GoFlateReader {
  private pos = 0;
  constructor(private readonly inflated: Inflated) {}

  read(n: number): Buffer {
    const next = this.inflated.readBoundaries.find((b) => b > this.pos) ?? this.pos;
    const got = Math.min(n, next - this.pos);
    const chunk = this.inflated.output.subarray(this.pos, this.pos + got);
    this.pos += got;
    return chunk;
  }

  /** io.ReadFull: Read until n bytes or EOF. */
  readFull(n: number): Buffer {
    const parts: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const c = this.read(left);
      if (!c.length) break;
      parts.push(c);
      left -= c.length;
    }
    return Buffer.concat(parts);
  }
}

const cstr = (b: Buffer): string => {
  const z = b.indexOf(0);
  return b.subarray(0, z < 0 ? b.length : z).toString('utf8');
};

export type GoReadResult = {
  /** Every regular member as UncompressMemFS stores it: its path less `/repository/`, the bytes of one Read. */
  files: Map<string, Buffer>;
  /** The size each member's header declares. */
  sizes: Map<string, number>;
  /** Members whose single Read came back short. */
  truncated: string[];
  /** Other entry types seen (e.g. 'g' fillers), which the loader skips. */
  skipped: string[];
  inflated: Inflated;
};

/** pkg/tuf UncompressMemFS(gz, "/repository/"), as far as what it stores is concerned. */
export function uncompressMemFS(gz: Buffer, stripPrefix = '/repository/'): GoReadResult {
  const inflated = gunzipLikeGo(gz);
  const r = new GoFlateReader(inflated);
  const files = new Map<string, Buffer>();
  const sizes = new Map<string, number>();
  const truncated: string[] = [];
  const skipped: string[] = [];
  let unread = 0; // bytes of the current entry's data (and padding) not read yet
  let paxPath: string | undefined;
  for (;;) {
    r.readFull(unread); // tar.Reader.Next skips what the caller left, then the padding
    let block = r.readFull(512);
    if (block.length < 512) throw new Error('unexpected EOF in tar header');
    if (block.every((b) => b === 0)) {
      block = r.readFull(512);
      if (block.every((b) => b === 0)) break;
      throw new Error('zero block followed by a header');
    }
    const size = parseInt(cstr(block.subarray(124, 136)) || '0', 8);
    const type = String.fromCharCode(block[156] || 0x30);
    const magic = block.subarray(257, 263).toString('latin1');
    const prefix = magic === 'ustar\0' ? cstr(block.subarray(345, 500)) : '';
    const name = (prefix ? `${prefix}/` : '') + cstr(block.subarray(0, 100));
    const padded = Math.ceil(size / 512) * 512;
    if (type === 'x' || type === 'g') {
      // Go reads pax records whole (readSpecialFile), whatever the flushes.
      const records = r.readFull(size).toString('utf8');
      unread = padded - size;
      for (let rest = records; rest.length;) {
        const sp = rest.indexOf(' ');
        const len = Number(rest.slice(0, sp));
        const record = rest.slice(sp + 1, len - 1);
        if (!(len > 0) || rest[len - 1] !== '\n') throw new Error(`bad pax record in ${name}`);
        const eq = record.indexOf('=');
        if (type === 'x' && record.slice(0, eq) === 'path') paxPath = record.slice(eq + 1);
        rest = rest.slice(len);
      }
      if (type === 'g') skipped.push(`g:${name}`);
      continue;
    }
    const fullName = paxPath ?? name;
    paxPath = undefined;
    if (type !== '0') {
      skipped.push(`${type}:${fullName}`);
      unread = padded;
      continue;
    }
    // sanitizeArchivePath("/", name), then TrimPrefix(stripPrefix), TrimPrefix("/").
    let target = '/' + fullName.split('/').filter(Boolean).join('/');
    if (target.startsWith(stripPrefix)) target = target.slice(stripPrefix.length);
    target = target.replace(/^\//, '');
    const data = Buffer.alloc(size);
    const got = r.read(size); // data := make([]byte, header.Size); tr.Read(data)
    got.copy(data);
    if (got.length < size) truncated.push(target);
    files.set(target, data);
    sizes.set(target, size);
    unread = padded - got.length;
  }
  return { files, sizes, truncated, skipped, inflated };
}

/** Go is no dependency of this project; where a toolchain is installed, tests also ask the real reader. */
export const goAvailable = (): boolean => spawnSync('go', ['version'], { encoding: 'utf8' }).status === 0;

export type GoMember = { size: number; read: number; sha256: string };

/** test/fixtures/go-mirrorfs-reader (Go's gzip + tar, one Read per member) on each archive. */
export function readWithGo(archives: Buffer[]): Record<string, GoMember>[] {
  const dir = tempDir();
  const files = archives.map((gz, i) => {
    const file = path.join(dir, `${i}.tgz`);
    fs.writeFileSync(file, gz);
    return file;
  });
  const program = path.join(packageRoot(), 'test', 'fixtures', 'go-mirrorfs-reader', 'main.go');
  const out = execFileSync('go', ['run', program, ...files], { encoding: 'utf8', env: { ...process.env, GO111MODULE: 'off', GOFLAGS: '' } });
  return out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, GoMember>);
}
