import { TufMirrorError, type PublicError } from '../lib/errors';

/** An image reference, normalized the way docker and cosign do it. */
export type ImageReference = {
  /** Registry as written in references and in the allowlist: `docker.io`, `registry.local:5000`. */
  registry: string;
  /** Repository path, e.g. `library/nginx`, `acme/app`. */
  repository: string;
  tag?: string;
  digest?: string;
};

/** Not an image reference docker or cosign would accept (named so as not to shadow the JS global ReferenceError). */
export class ImageReferenceError extends TufMirrorError<'BAD_REQUEST'> {
  constructor(message: string) {
    super('BAD_REQUEST', message, { details: { field: 'image' } });
  }

  /** To a caller the message names the request field (`image: not an image reference`); an admission denial names the image itself. */
  override toJSON(): PublicError {
    return { ...super.toJSON(), message: `image: ${this.message}` };
  }
}

const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * `nginx` → docker.io/library/nginx:latest; `registry.local:5000/acme/app@sha256:…`; a first
 * component with a `.` or `:` or equal to `localhost` is a registry.
 */
export function parseReference(ref: string): ImageReference {
  if (typeof ref !== 'string' || ref.length === 0 || ref.length > 512 || /\s/.test(ref)) throw new ImageReferenceError('not an image reference');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new ImageReferenceError(`${ref}: the digest must be sha256: and 64 lowercase hex digits`);
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new ImageReferenceError(`${ref}: invalid tag "${tag}"`);
  }
  const parts = rest.split('/');
  let registry = 'docker.io';
  if (parts.length > 1 && (parts[0].includes('.') || parts[0].includes(':') || parts[0] === 'localhost')) {
    registry = parts[0].toLowerCase();
    parts.shift();
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = 'docker.io';
  if (registry === 'docker.io' && parts.length === 1) parts.unshift('library');
  for (const p of parts) if (!COMPONENT.test(p)) throw new ImageReferenceError(`${ref}: invalid repository path component "${p}"`);
  if (!digest && !tag) tag = 'latest';
  return { registry, repository: parts.join('/'), ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

export function formatReference(r: ImageReference): string {
  return `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** Where the registry API lives: Docker Hub's is registry-1.docker.io. */
export function apiHost(registry: string): string {
  return registry === 'docker.io' ? 'registry-1.docker.io' : registry;
}

/** `image` as written, its tag replaced by `digest` (`acme/app:1.0` → `acme/app@sha256:…`); a reference with a digest is kept. */
export function pinnedReference(image: string, digest: string): string {
  if (image.includes('@')) return image;
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  return `${colon > slash ? image.slice(0, colon) : image}@${digest}`;
}
