/**
 * policy-controller's `spec.repository.mirrorFS`: a gzip-compressed tar of the TUF repository
 * under `repository/`, which its TUF client reads instead of the network.
 *
 * Why the archive is laid out with care: policy-controller's loader (pkg/tuf UncompressMemFS)
 * reads every member with ONE Read call of the member's size and ignores a short read. Go's
 * gzip/flate reader ends a Read where the inflater flushed its output: at an empty stored block
 * (a sync flush), at every 32 KiB of output (its window wrapping), and at the stream's end. A
 * plain `tar -czf` archive past ~24 KB therefore loses the tail of whichever member straddles a
 * 32 KiB boundary, silently. Here every member's data starts right after a flush, ends with one,
 * and never straddles a 32 KiB boundary of the uncompressed stream: a pax global header of the
 * right size (readers create no file for it) moves a member that would straddle to the boundary.
 */
import { metadataPath, targetPath } from '../lib/layout';
import { TrustRootError } from './errors';
import { gzipWithFlushes, WINDOW } from './gzip';
import type { TrustMaterial } from './material';
import { fileHeader, filler, padding, trailer } from '../lib/tar';

/** policy-controller strips this prefix (its DefaultTUFRepoPrefix) from member names. */
export const ARCHIVE_PREFIX = 'repository/';

export type ArchiveMember = { path: string; bytes: Buffer };

/** Where one member's data sits in the uncompressed stream (for tests and for the curious). */
export type PlacedMember = { path: string; start: number; end: number };

export type MirrorArchive = {
  gzip: Buffer;
  tarBytes: number;
  members: PlacedMember[];
  /** Bytes of pax filler inserted to keep members off 32 KiB boundaries. */
  fillerBytes: number;
};

/**
 * What a client starting from the newest root needs, and nothing else: timestamp, snapshot,
 * targets, every delegated role, and the chosen target files under every hash their role lists.
 * No older roots (the client is handed the newest), no unversioned aliases of versioned files.
 */
export function archiveMembers(material: TrustMaterial, keepTargets?: string[]): ArchiveMember[] {
  if (keepTargets) {
    const unknown = keepTargets.filter((n) => !material.targetFiles.some((t) => t.name === n));
    if (unknown.length) {
      throw new TrustRootError(
        'UNKNOWN_TARGET',
        `no target named ${unknown.join(', ')} in ${material.repository} generation ${material.generation.id}; it has: ${material.targetFiles.map((t) => t.name).join(', ')}`,
      );
    }
  }
  const versioned = material.consistentSnapshot;
  const members: ArchiveMember[] = [{ path: metadataPath('timestamp'), bytes: material.timestamp.bytes }];
  for (const m of [material.snapshot, material.targets, ...material.delegated]) {
    members.push({ path: versioned ? metadataPath(m.role, m.version) : metadataPath(m.role), bytes: m.bytes });
  }
  for (const t of material.targetFiles) {
    if (keepTargets && !keepTargets.includes(t.name)) continue;
    if (!versioned) {
      members.push({ path: targetPath(t.name), bytes: t.bytes });
      continue;
    }
    const paths = [...new Set(Object.values(t.hashes))].map((h) => targetPath(t.name, h)).sort();
    for (const p of paths) members.push({ path: p, bytes: t.bytes });
  }
  return members.map((m) => ({ path: ARCHIVE_PREFIX + m.path, bytes: m.bytes }));
}

/** The archive of `members`, in order, laid out so that a one-Read-per-member reader gets each whole. */
export function buildMirrorArchive(members: ArchiveMember[]): MirrorArchive {
  const segments: Buffer[] = [];
  const placed: PlacedMember[] = [];
  let pos = 0;
  let fillerBytes = 0;
  // Bytes waiting for the next flush: the previous member's tar padding, fillers, headers.
  let pending: Buffer[] = [];
  const flush = (): void => {
    const seg = Buffer.concat(pending);
    if (seg.length) segments.push(seg);
    pending = [];
  };
  const put = (b: Buffer): void => {
    pending.push(b);
    pos += b.length;
  };

  for (const m of members) {
    const size = m.bytes.length;
    if (size > WINDOW) {
      throw new TrustRootError(
        'MEMBER_TOO_LARGE',
        `${m.path} is ${size} bytes: policy-controller reads an archive member with one read, which Go's gzip reader ends at ${WINDOW} bytes at most; leave it out with --targets`,
      );
    }
    const header = fileHeader(m.path, size);
    let start = pos + header.length;
    const boundary = Math.floor(start / WINDOW + 1) * WINDOW;
    if (size > 0 && start + size > boundary) {
      // Fill up to the boundary so the header ends, and the data starts, exactly on it.
      const gap = boundary - header.length - pos;
      put(filler(gap));
      fillerBytes += gap;
      start = boundary;
    }
    put(header);
    flush();
    if (size > 0) {
      put(m.bytes);
      flush();
    }
    placed.push({ path: m.path, start, end: start + size });
    put(padding(size));
  }
  put(trailer());
  flush();
  return { gzip: gzipWithFlushes(segments), tarBytes: pos, members: placed, fillerBytes };
}
