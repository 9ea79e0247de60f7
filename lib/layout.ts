/**
 * The upstream TUF repository layout, as clients request it:
 *   N.root.json, timestamp.json, N.snapshot.json, N.targets.json, N.<delegated>.json,
 *   targets/[dir/]<hash>.<name>
 * plus the unversioned names (root.json, snapshot.json, targets.json, <delegated>.json,
 * targets/<path>) that clients without consistent snapshots ask for.
 */

const VERSIONED_METADATA = /^[1-9][0-9]*\.[^/]+\.json$/;
const HASH_PREFIXED_TARGET = /^targets\/(?:.+\/)?[0-9a-f]{64}(?:[0-9a-f]{64})?\.[^/]+$/;

/** Versioned files never change content, so they may be cached forever and kept across generations. */
export function isVersionedPath(path: string): boolean {
  return VERSIONED_METADATA.test(path) || HASH_PREFIXED_TARGET.test(path);
}

export const metadataPath = (role: string, version?: number): string =>
  version === undefined ? `${role}.json` : `${version}.${role}.json`;

/** `registry.npmjs.org/keys.json` + hash → `targets/registry.npmjs.org/<hash>.keys.json` */
export function targetPath(target: string, hash?: string): string {
  if (hash === undefined) return `targets/${target}`;
  const slash = target.lastIndexOf('/');
  return slash < 0 ? `targets/${hash}.${target}` : `targets/${target.slice(0, slash)}/${hash}.${target.slice(slash + 1)}`;
}

export function contentType(path: string): string {
  if (path.endsWith('.json')) return 'application/json';
  if (/\.(pem|crt|pub)$/.test(path)) return 'application/x-pem-file';
  return 'application/octet-stream';
}
