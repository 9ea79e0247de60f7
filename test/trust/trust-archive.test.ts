/**
 * The mirrorFS archive property, on synthetic trees of every shape: policy-controller's loader
 * (one Read per member, emulated in trust-go-reader.ts) gets every member whole, and the archive
 * is a plain, valid tar.gz for every other reader.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as zlib from 'node:zlib';
import { describe, test } from 'node:test';
import { TrustRootError } from '../../trust/errors';
import { gzipWithFlushes, WINDOW } from '../../trust/gzip';
import { buildMirrorArchive, type ArchiveMember } from '../../trust/mirror-fs';
import { fileHeader, padding, trailer } from '../../lib/tar';
import { goAvailable, gunzipLikeGo, inflateRawLikeGo, readWithGo, uncompressMemFS } from '../helpers/trust-go-reader';

/** Deterministic pseudo-random bytes: half text (compressible), half hash output (not). */
function content(seed: string, size: number, compressible: boolean): Buffer {
  const parts: Buffer[] = [];
  let n = 0;
  for (let i = 0; n < size; i++) {
    const h = createHash('sha256').update(`${seed}:${i}`).digest();
    const piece = compressible ? Buffer.from(`{"line":${i},"key":"${h.toString('hex').slice(0, 16)}"}\n`) : h;
    parts.push(piece);
    n += piece.length;
  }
  return Buffer.concat(parts).subarray(0, size);
}

/** A small xorshift PRNG so "random" layouts are the same on every run. */
function prng(seed: number): () => number {
  let x = seed || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function membersOf(sizes: number[], seed = 'm'): ArchiveMember[] {
  return sizes.map((size, i) => ({
    path: `repository/targets/${createHash('sha256').update(`${seed}${i}`).digest('hex')}.file-${i}.json`,
    bytes: content(`${seed}${i}`, size, i % 2 === 0),
  }));
}

/** Everything the property needs, asserted at once. */
function assertReadsWhole(members: ArchiveMember[]): ReturnType<typeof buildMirrorArchive> {
  const archive = buildMirrorArchive(members);
  const go = uncompressMemFS(archive.gzip);
  assert.deepEqual(go.truncated, [], `members read short: ${go.truncated.join(', ')}`);
  assert.equal(go.files.size, new Set(members.map((m) => m.path)).size);
  for (const m of members) {
    const rel = m.path.replace(/^repository\//, '');
    assert.ok(go.files.get(rel)?.equals(m.bytes), `${rel} differs after one Read`);
  }
  // By construction, not by luck: each member's data starts at a flush (or the stream start),
  // ends at one, and stays inside one 32 KiB window.
  const flushes = new Set([0, ...go.inflated.syncFlushes]);
  for (const p of archive.members) {
    if (p.end === p.start) continue;
    assert.ok(flushes.has(p.start), `${p.path} data does not start after a flush`);
    assert.ok(flushes.has(p.end), `${p.path} data does not end with a flush`);
    assert.equal(Math.floor(p.start / WINDOW), Math.floor((p.end - 1) / WINDOW), `${p.path} straddles a 32 KiB boundary`);
  }
  // Any inflater agrees on the bytes, and the layout is what the writer says it is.
  const plain = zlib.gunzipSync(archive.gzip);
  assert.ok(plain.equals(go.inflated.output));
  assert.equal(plain.length, archive.tarBytes);
  for (const p of archive.members) assert.ok(plain.subarray(p.start, p.end).equals(members.find((m) => m.path === p.path)!.bytes));
  return archive;
}

describe('the Go reader emulation', () => {
  test('decodes what zlib writes, at every level and strategy, with the same bytes', () => {
    const data = Buffer.concat([content('a', 50_000, true), content('b', 30_000, false), content('c', 20_000, true)]);
    for (const level of [0, 1, 6, 9]) {
      for (const strategy of [zlib.constants.Z_DEFAULT_STRATEGY, zlib.constants.Z_HUFFMAN_ONLY, zlib.constants.Z_FIXED, zlib.constants.Z_RLE]) {
        const gz = zlib.gzipSync(data, { level, strategy });
        assert.ok(gunzipLikeGo(gz).output.equals(data), `level ${level} strategy ${strategy}`);
      }
    }
  });

  test('without flushes, a Read stops only at 32 KiB window boundaries and the end', () => {
    const data = content('w', 100_000, true);
    const { readBoundaries, syncFlushes } = gunzipLikeGo(zlib.gzipSync(data));
    assert.deepEqual(readBoundaries, [32768, 65536, 98304, 100_000]);
    assert.deepEqual(syncFlushes, []);
  });

  test('a sync flush is an empty stored block, and a Read stops there', () => {
    const raw = zlib.deflateRawSync(Buffer.from('hello'), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    assert.equal(raw.subarray(-4).toString('hex'), '0000ffff');
    const inflated = inflateRawLikeGo(Buffer.concat([raw, Buffer.from([0x03, 0x00])]));
    assert.deepEqual(inflated.syncFlushes, [5]);
    assert.deepEqual(inflated.readBoundaries, [5]);
  });

  test('negative control: a plain tar.gz past 32 KiB loses the tail of a member to one Read', () => {
    // The same tar stream, gzip'd in one go as `tar -czf` does.
    const members = membersOf([6000, 7000, 9000, 5000, 8000, 4000]);
    const tar = Buffer.concat([...members.flatMap((m) => [fileHeader(m.path, m.bytes.length), m.bytes, padding(m.bytes.length)]), trailer()]);
    const go = uncompressMemFS(zlib.gzipSync(tar, { level: 9 }));
    assert.ok(go.truncated.length >= 1, 'the emulated loader should truncate a member that straddles 32 KiB');
    const cut = go.truncated[0];
    const original = members.find((m) => m.path.endsWith(cut))!.bytes;
    assert.ok(!go.files.get(cut)!.equals(original));
    assert.equal(go.files.get(cut)!.length, original.length, 'Go keeps the zero-filled buffer of the declared size');
  });
});

describe('mirrorFS archive layout', () => {
  test('small trees: every member whole, no filler needed', () => {
    const archive = assertReadsWhole(membersOf([447, 1760, 4942, 642, 6787, 0, 1, 511, 512, 513]));
    assert.equal(archive.fillerBytes, 0);
  });

  test('trees past several 32 KiB windows: fillers move straddling members onto the boundary', () => {
    const archive = assertReadsWhole(membersOf([9000, 9000, 9000, 9000, 9000, 9000, 9000, 9000, 9000, 9000, 20000, 31000, 700]));
    assert.ok(archive.fillerBytes > 0);
    assert.ok(archive.tarBytes > 4 * WINDOW);
    // The fillers are pax global headers, which the loader skips and creates no file for.
    const go = uncompressMemFS(archive.gzip);
    assert.ok(go.skipped.length > 0 && go.skipped.every((s) => s.startsWith('g:')));
  });

  test('a member of exactly 32 KiB is placed on a boundary and read whole', () => {
    assertReadsWhole(membersOf([1000, 32768, 5, 32768]));
  });

  test('a member larger than 32 KiB cannot be read whole by that loader: MEMBER_TOO_LARGE', () => {
    assert.throws(
      () => buildMirrorArchive(membersOf([100, 32769])),
      (e: unknown) => e instanceof TrustRootError && e.code === 'MEMBER_TOO_LARGE' && e.message.includes('--targets'),
    );
  });

  test('200 random trees (sizes 0..32 KiB, compressible or not) all read whole', () => {
    const rand = prng(20260822);
    for (let t = 0; t < 200; t++) {
      const count = 1 + Math.floor(rand() * 14);
      const sizes = Array.from({ length: count }, () => {
        const r = rand();
        return r < 0.1 ? 0 : r < 0.5 ? Math.floor(rand() * 2048) : r < 0.9 ? Math.floor(rand() * 12000) : Math.floor(rand() * (WINDOW + 1));
      });
      assertReadsWhole(membersOf(sizes, `t${t}-`));
    }
  });

  test('long member paths use a pax header and still read whole', () => {
    const long = `repository/targets/${'deep/'.repeat(40)}${'a'.repeat(120)}.json`;
    const members = [{ path: long, bytes: content('long', 3000, true) }, ...membersOf([40000 - 8000, 9000])];
    const archive = buildMirrorArchive(members);
    const go = uncompressMemFS(archive.gzip);
    assert.deepEqual(go.truncated, []);
    assert.ok(go.files.get(long.replace('repository/', ''))!.equals(members[0].bytes));
  });

  test('the same members give the same bytes; the gzip header carries no time or name', () => {
    const a = buildMirrorArchive(membersOf([3000, 40000 - 9000, 7000])).gzip;
    const b = buildMirrorArchive(membersOf([3000, 40000 - 9000, 7000])).gzip;
    assert.ok(a.equals(b));
    assert.equal(a.subarray(0, 10).toString('hex'), '1f8b08000000000002ff');
  });

  test('gzipWithFlushes: dictionary-continued segments form one valid stream', () => {
    const segments = [content('s1', 10_000, true), content('s2', 40_000, true), content('s3', 100, false), Buffer.alloc(1024)];
    const gz = gzipWithFlushes(segments);
    assert.ok(zlib.gunzipSync(gz).equals(Buffer.concat(segments)));
    const { syncFlushes } = gunzipLikeGo(gz);
    assert.deepEqual(syncFlushes, [10_000, 50_000, 50_100]);
    // Continuing the window compresses the repeated text better than independent pieces would.
    const independent = segments.reduce((n, s) => n + zlib.deflateRawSync(s, { level: 9 }).length, 0);
    assert.ok(gz.length < independent, `${gz.length} >= ${independent}`);
  });
});

describe('the real Go reader (runs only where `go` is installed)', { skip: !goAvailable() && 'no go toolchain on PATH' }, () => {
  test('agrees with the emulation on every member, on plain tar.gz archives that truncate and on ours', () => {
    const cases: { name: string; gz: Buffer }[] = [];
    const rand = prng(7);
    for (let i = 0; i < 24; i++) {
      const members = membersOf(
        Array.from({ length: 3 + Math.floor(rand() * 10) }, () => Math.floor(rand() * 20000)),
        `go${i}-`,
      );
      const tar = Buffer.concat([...members.flatMap((m) => [fileHeader(m.path, m.bytes.length), m.bytes, padding(m.bytes.length)]), trailer()]);
      cases.push({ name: `plain-${i}`, gz: zlib.gzipSync(tar, { level: 1 + (i % 9) }) });
      cases.push({ name: `ours-${i}`, gz: buildMirrorArchive(members).gzip });
    }
    const results = readWithGo(cases.map((c) => c.gz));
    let plainTruncated = 0;
    cases.forEach((c, i) => {
      const go = results[i];
      const emulated = uncompressMemFS(c.gz);
      assert.deepEqual(Object.keys(go).sort(), [...emulated.files.keys()].sort(), c.name);
      for (const [rel, bytes] of emulated.files) {
        // Same kept buffer (a short read leaves zeros), so the same read length too.
        assert.equal(go[rel].sha256, createHash('sha256').update(bytes).digest('hex'), `${c.name} ${rel}: Go kept other bytes (read ${go[rel].read} of ${go[rel].size})`);
        assert.equal(go[rel].read < go[rel].size, emulated.truncated.includes(rel), `${c.name} ${rel}`);
      }
      if (c.name.startsWith('ours')) assert.deepEqual(emulated.truncated, [], c.name);
      else plainTruncated += emulated.truncated.length;
    });
    assert.ok(plainTruncated > 0, 'some plain archives lose data in real Go too');
  });
});
