/**
 * How a sync cuts a generation into blocks the store can share between generations (see
 * store/migrations.ts, migration 5), and how each block is named by its content.
 *
 * A block's key is a sha256 over what it holds, so the same content always gets the same key,
 * whichever run computes it and whether the run parsed a role or reused what an earlier run
 * stored. Target blocks are keyed by the signed information of their targets (name, role,
 * length, hashes, custom): the files they hold follow from it (one path per signed hash plus the
 * plain one, all with the bytes that match every hash), so a run can tell that a block is
 * already held before it fetches or reads any of its files.
 */
import type { Metadata, TargetFile, Targets } from '@tufjs/models';
import { createHash } from 'node:crypto';
import { metadataPath } from '../lib/layout';
import { type BlockKind, type NewBlock, type NewBlockFile, type TargetRecord } from '../store/store';

/** A target a role resolves, before its file is known. */
export type SignedTarget = { name: string; role: string; length: number; hashes: Record<string, string>; custom?: Record<string, unknown> };

/** Targets of a role per block at most, about: a changed target rewrites one block of this many. */
const TARGETS_PER_BLOCK = 128;

/**
 * FNV-1a (32 bits) of a name: cheap, stable across versions and platforms (UTF-16 code units),
 * and only used to spread names over buckets (nothing trusts it).
 */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** How many bits of bucket a role with `count` targets gets: about TARGETS_PER_BLOCK per bucket, at most 2^16 buckets. */
export function bucketBits(count: number): number {
  let bits = 0;
  while (bits < 16 && count > TARGETS_PER_BLOCK << bits) bits++;
  return bits;
}

/** The bucket of a name, `<index>/<bits>`: the part of a targets block. */
export function bucketOf(name: string, bits: number): string {
  return `${bits === 0 ? 0 : fnv1a(name) >>> (32 - bits)}/${bits}`;
}

/**
 * Targets grouped by role and bucket, each group sorted by name (the input order need not be).
 * A target with a `part` field gets its bucket written there.
 */
export function groupTargets<T extends { name: string; role: string; part?: string }>(targets: T[]): Map<string, { role: string; part: string; targets: T[] }> {
  const byRole = new Map<string, T[]>();
  for (const t of targets) {
    const list = byRole.get(t.role);
    if (list) list.push(t);
    else byRole.set(t.role, [t]);
  }
  const groups = new Map<string, { role: string; part: string; targets: T[] }>();
  for (const [role, list] of byRole) {
    const bits = bucketBits(list.length);
    for (const t of list) {
      const part = bucketOf(t.name, bits);
      if ('part' in t) t.part = part;
      const id = `${role}\n${part}`;
      const group = groups.get(id);
      if (group) group.targets.push(t);
      else groups.set(id, { role, part, targets: [t] });
    }
  }
  for (const g of groups.values()) if (!isSortedByName(g.targets)) g.targets.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return groups;
}

function isSortedByName(list: { name: string }[]): boolean {
  for (let i = 1; i < list.length; i++) if (list[i - 1].name > list[i].name) return false;
  return true;
}

/** The key of a targets block holding these targets (sorted by name), from their signed information alone. */
export function targetsBlockKey(role: string, part: string, targets: SignedTarget[]): string {
  let text = `targets\n${role}\n${part}\n`;
  for (const t of targets) {
    text += `${t.name}\0${t.role}\0${t.length}\0`;
    for (const algorithm in t.hashes) text += `${algorithm}=${t.hashes[algorithm]};`;
    text += `\0${t.custom === undefined ? '' : JSON.stringify(t.custom)}\n`;
  }
  return createHash('sha256').update(text).digest('hex');
}

/** A targets block: the resolutions (the files each is served at follow from them: store.blockFiles). */
export function targetsBlock(role: string, part: string, targets: (SignedTarget & { sha256: string })[]): NewBlock {
  const records: TargetRecord[] = targets.map((t) => ({
    name: t.name,
    role: t.role,
    length: t.length,
    hashes: t.hashes,
    ...(t.custom === undefined ? {} : { custom: t.custom }),
    sha256: t.sha256,
  }));
  return { key: targetsBlockKey(role, part, targets), kind: 'targets', role, part, files: [], targets: records };
}

/** A block of files only (metadata, roots, the head, a failed role's carried files), keyed by its paths and their contents. */
export function filesBlock(kind: BlockKind, files: NewBlockFile[], role?: string, part?: string): NewBlock {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const hash = createHash('sha256').update(`${kind}\n${role ?? ''}\n${part ?? ''}\n`);
  for (const f of sorted) hash.update(`${f.path}\0${f.sha256}\n`);
  return { key: hash.digest('hex'), kind, ...(role === undefined ? {} : { role }), ...(part === undefined ? {} : { part }), files: sorted, targets: [] };
}

/** A file with its bytes, as a block holds it. */
export function fileOf(path: string, bytes: Buffer): NewBlockFile {
  return { path, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length, bytes };
}

/** Of the blobs a run wrote or leased, those no target of these blocks uses. */
export function unusedBlobs(touched: Iterable<string>, blocks: Iterable<{ targets?: { sha256: string }[] }>): string[] {
  const used = new Set<string>();
  for (const b of blocks) for (const t of b.targets ?? []) used.add(t.sha256);
  return [...touched].filter((sha) => !used.has(sha));
}

/** A name's resolution as the generation records it: the signed information of its TargetFile. */
export function signedTarget(name: string, role: string, info: TargetFile): SignedTarget {
  return {
    name,
    role,
    length: info.length,
    hashes: info.hashes,
    ...(Object.hasOwn(info.unrecognizedFields, 'custom') ? { custom: info.custom } : {}),
  };
}

/** Whether a role's metadata delegates (the `part` of its metadata block: sync/reuse.ts reads it). */
export function metadataPart(metadata: Metadata<Targets>): 'leaf' | 'delegator' {
  const d = metadata.signed.delegations;
  return d && ((d.roles && Object.keys(d.roles).length > 0) || d.succinctRoles) ? 'delegator' : 'leaf';
}

/** A role's metadata block: its versioned and plain files. */
export function metadataBlock(role: string, metadata: Metadata<Targets>, bytes: Buffer): NewBlock {
  const file = fileOf(metadataPath(role, metadata.signed.version), bytes);
  return filesBlock('metadata', [file, { ...file, path: metadataPath(role) }], role, metadataPart(metadata));
}

export function snapshotBlock(version: number, bytes: Buffer): NewBlock {
  const file = fileOf(metadataPath('snapshot', version), bytes);
  return filesBlock('snapshot', [file, { ...file, path: metadataPath('snapshot') }]);
}

export function headBlock(timestamp: Buffer): NewBlock {
  return filesBlock('head', [fileOf(metadataPath('timestamp'), timestamp)]);
}
