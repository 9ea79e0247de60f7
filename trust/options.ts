/** What a caller (CLI flags, HTTP query) may ask of a serializer, and what each gives back. */
import type { Config, RepositoryConfig } from '../config/config';
import { TrustRootError } from './errors';
import type { IdentityOptions } from './identity';
import type { Validity } from './validity';

export type TrustOptions = {
  /** The URL clients reach this repository at (already resolved: see resolveMirrorUrl). */
  mirrorUrl?: string;
  /** Keep only these target files in a mirrorFS archive (default: all). */
  targets?: string[];
  /** sigstore-keys: keep entries outside their validity window too. */
  all?: boolean;
  /** metadata.name of the Kubernetes object. */
  name?: string;
  /** metadata.namespace of a namespaced object (the Kubewarden ConfigMap). */
  namespace?: string;
  /** The target holding the Sigstore trusted root (default trusted_root.json). */
  trustedRootTarget?: string;
  /** The instant "valid now" means; the clock by default. */
  now?: number;
  /** Who may sign, and which images a policy covers: the policy outputs (trust/identity.ts). */
  identity?: IdentityOptions;
  /** The TrustRoot a ClusterImagePolicy refers to (default: the one --format remote names, tuf-mirror-<repository>). */
  trustRootName?: string;
  /** Kyverno ClusterPolicy: Audit (default) or Enforce. */
  failureAction?: string;
};

export type TrustOutput = {
  format: string;
  contentType: string;
  body: Buffer;
  /** Facts for the operator (sizes, expiry): stderr on the CLI, headers over HTTP. */
  notes: string[];
  /** Something the operator should act on or know was left out. */
  warnings: string[];
  /** Size of the mirrorFS archive (gzip bytes), for the repository format. */
  archiveBytes?: number;
  /** Until when it holds (the earliest expiry of what it embeds); absent: no expiry of its own. */
  validity?: Validity;
  /**
   * sha256 of the output with the generation's own provenance left out (renderTrustRoot sets it):
   * equal for every generation, and every replica, that hands out the same content.
   */
  contentSha256?: string;
};

export const DEFAULT_TRUSTED_ROOT_TARGET = 'trusted_root.json';

function checkUrl(url: string, origin: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TrustRootError('INVALID_MIRROR_URL', `${origin} "${url}" is not an absolute URL`);
  }
  if (!/^https?:$/.test(parsed.protocol)) throw new TrustRootError('INVALID_MIRROR_URL', `${origin} "${url}" must be an http:// or https:// URL`);
  if (parsed.username || parsed.password) throw new TrustRootError('INVALID_MIRROR_URL', `${origin} must not carry credentials: it ends up in cluster objects`);
  if (parsed.search || parsed.hash) throw new TrustRootError('INVALID_MIRROR_URL', `${origin} "${url}" must not have a query or fragment`);
  // The parsed form, never the string as given: URL parsing drops tabs and newlines, lowercases the
  // host and encodes what needs it, and what is checked must be what lands in YAML and scripts.
  return parsed.href.replace(/\/+$/, '');
}

/**
 * The mirror URL a client inside the cluster uses for this repository. An explicit URL (flag or
 * query) is taken as the repository's own URL, as given. Otherwise server.publicUrl is the
 * service's base: the default repository is served at its root, every other one at /<name>.
 * Without either, there is no safe guess (the address this process sees a request on is not
 * necessarily the one pods use), so it is an error.
 */
export function resolveMirrorUrl(explicit: string | undefined, config: Pick<Config, 'server'>, repository: Pick<RepositoryConfig, 'name' | 'default'>): string {
  if (explicit !== undefined && explicit !== '') return checkUrl(explicit, 'the mirror URL');
  const base = config.server.publicUrl;
  if (!base) {
    throw new TrustRootError('MIRROR_URL_REQUIRED', 'this format names the URL clients reach the mirror at: pass --mirror-url (HTTP: ?mirrorUrl=) or set server.publicUrl in the config');
  }
  const root = checkUrl(base, 'server.publicUrl');
  return repository.default ? root : `${root}/${repository.name}`;
}

/** "a,b , c" → ["a", "b", "c"]; empty entries dropped. */
export function parseList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return items.length ? items : undefined;
}
