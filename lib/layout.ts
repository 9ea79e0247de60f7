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

export const metadataPath = (role: string, version?: number): string => (version === undefined ? `${role}.json` : `${version}.${role}.json`);

/** `registry.npmjs.org/keys.json` + hash → `targets/registry.npmjs.org/<hash>.keys.json` */
export function targetPath(target: string, hash?: string): string {
  if (hash === undefined) return `targets/${target}`;
  const slash = target.lastIndexOf('/');
  return slash < 0 ? `targets/${hash}.${target}` : `targets/${target.slice(0, slash)}/${hash}.${target.slice(slash + 1)}`;
}

/** Every path a target is served at: one named by each signed hash, and the plain one. */
export function targetFilePaths(target: string, hashes: Record<string, string>): string[] {
  return [...new Set([...Object.values(hashes).map((h) => targetPath(target, h)), targetPath(target)])];
}

/**
 * Why `p` is not a plain relative path, or undefined if it is: no leading `/`, no backslash, no drive
 * letter, no control characters, no empty, `.` or `..` segment. What every path written to a
 * disk, an archive or a URL must be.
 */
export function unsafePathReason(p: string): string | undefined {
  if (p.length === 0) return 'an empty path';
  if (p.length > 1024) return 'a path over 1024 characters';
  if (p.startsWith('/')) return 'an absolute path';
  if (/^[A-Za-z]:/.test(p)) return 'a drive-letter path';
  if (p.includes('\\')) return 'a backslash';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(p)) return 'a control character';
  // An empty, `.` or `..` segment (a regular expression: this runs for every file of a sync).
  if (/(?:^|\/)\.{0,2}(?:\/|$)/.test(p)) return 'an empty, "." or ".." segment';
  return undefined;
}

/**
 * Why a signed target name cannot be mirrored, or undefined if it can. Besides a plain relative
 * path (unsafePathReason), no `%`, `?` or `#`: clients put the name into a URL as it is, where
 * these would be read as an escape, a query or a fragment, so the file a client asks for would
 * not be the one the name says (`%2e%2e` is `..` once a server decodes it).
 */
export function unsafeTargetName(name: string): string | undefined {
  const reason = unsafePathReason(name);
  if (reason) return reason;
  if (/[%?#]/.test(name)) return 'a "%", "?" or "#", which a URL reads as an escape, a query or a fragment';
  return undefined;
}

/**
 * Why a delegated role name cannot be mirrored, or undefined if it can. Clients request
 * `N.<role>.json` with the name encoded (tuf-js encodeURIComponent, python-tuf quote(role, ''),
 * go-tuf url.QueryEscape): only RFC 3986 unreserved characters come out unchanged from all three.
 * Others are encoded differently (a space is `%20` or `+`), and `/` (`%2F` from every client) is
 * turned back into a folder by static hosts, nginx and object stores, where the unversioned
 * `targets/x.json` of a role `targets/x` is a target's path. Names that are integers are searched
 * in another order by tuf-js (JavaScript sorts integer keys first) than by python-tuf and go-tuf;
 * a name starting `<digits>.` has an unversioned file that reads as another role's versioned one.
 */
export function unsafeRoleName(role: string): string | undefined {
  if (!/^[A-Za-z0-9._~-]{1,200}$/.test(role)) return 'characters other than A-Z a-z 0-9 . _ ~ - (or over 200 of them), which clients encode differently';
  if (role.startsWith('.')) return 'a leading "."';
  if (/^[0-9]+$/.test(role)) return 'an integer, which tuf-js searches in another order than other clients';
  if (/^[0-9]+\./.test(role)) return 'a "<digits>." prefix, which makes its unversioned file read as a versioned one';
  return undefined;
}

/** What a path of the layout is about, for people: `8.registry.npmjs.org.json` → `registry.npmjs.org`, targets as they are. */
export function roleOfPath(path: string): string {
  if (path.startsWith('targets/')) return path;
  const m = /^(?:\d+\.)?(.+)\.json$/.exec(path);
  return m ? m[1] : path;
}

export function contentType(path: string): string {
  if (path.endsWith('.json')) return 'application/json';
  if (/\.(pem|crt|pub)$/.test(path)) return 'application/x-pem-file';
  return 'application/octet-stream';
}
