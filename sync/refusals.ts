import type { TargetFile } from '@tufjs/models';

/** A name as logs and records may show it: control characters escaped, at most 200 characters. */
export function printable(name: string): string {
  // eslint-disable-next-line no-control-regex
  return name.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`).slice(0, 200);
}

/** Hash values become file names: they must be what a digest looks like, and there must be one. */
export function malformedHashes(info: TargetFile): string | undefined {
  const values = Object.values(info.hashes);
  if (values.length === 0) return 'it lists no hash';
  if (values.some((h) => !/^[0-9a-f]{2,128}$/.test(h))) return 'a hash is not lowercase hex';
  return undefined;
}

/** Refusals as a generation records them: by name. */
export function byName<T extends { name: string }>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
