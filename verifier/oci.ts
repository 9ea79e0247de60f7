import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { ConfigError } from '../config/config';
import type { RegistryConfig } from './config-schema';
import { apiHost, type ImageReference } from './reference';

/**
 * A small OCI distribution client on Node's built-in HTTP client (per-registry CA bundles need
 * node:https; global fetch cannot take one without the undici package): bearer-token and basic
 * auth, plain HTTP only for registries configured insecure, digest checks on everything fetched,
 * timeouts, size caps, at most three redirects, and an allowlist checked before any request.
 */

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;
const MANIFEST_ACCEPT = [MEDIA.ociIndex, MEDIA.ociManifest, MEDIA.dockerList, MEDIA.dockerManifest].join(', ');

export type RegistryErrorCode =
  | 'REGISTRY_NOT_ALLOWED'
  | 'REGISTRY_UNREACHABLE'
  | 'REGISTRY_TIMEOUT'
  | 'REGISTRY_HTTP_ERROR'
  | 'REGISTRY_BAD_RESPONSE'
  | 'REGISTRY_AUTH_FAILED'
  | 'RESPONSE_TOO_LARGE'
  | 'DIGEST_MISMATCH'
  | 'NOT_FOUND';

export class RegistryError extends Error {
  constructor(
    readonly code: RegistryErrorCode,
    message: string,
    /** The registry's own HTTP status, when it answered. */
    readonly registryStatus?: number,
    /** The registry's own error message (OCI error body), when it gave one. */
    readonly registryMessage?: string,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

export type Descriptor = { mediaType: string; digest: string; size: number; annotations?: Record<string, string>; artifactType?: string };
export type Manifest = {
  schemaVersion?: number;
  mediaType?: string;
  artifactType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: (Descriptor & { platform?: unknown })[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
};
export type FetchedManifest = { digest: string; mediaType: string; bytes: Buffer; manifest: Manifest };

export type RegistryClientOptions = {
  registries: RegistryConfig[];
  /** A docker config.json (`auths`) for credentials of allowlisted registries. */
  dockerConfig?: string;
  /** Folder relative paths (ca, dockerConfig) are resolved against. */
  baseDir?: string;
  timeoutMs: number;
  maxManifestBytes: number;
  maxBlobBytes: number;
};

type Credentials = { username: string; password: string };
type Raw = { status: number; headers: http.IncomingHttpHeaders; body: Buffer };

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export class RegistryClient {
  private readonly registries = new Map<string, { config: RegistryConfig; ca?: string[]; credentials?: Credentials; agent: http.Agent }>();
  private readonly tokens = new Map<string, string>();

  constructor(private readonly options: RegistryClientOptions) {
    const base = options.baseDir ?? process.cwd();
    const read = (file: string, field: string): string => {
      try {
        return fs.readFileSync(path.resolve(base, file), 'utf8');
      } catch (err) {
        throw new ConfigError(`invalid configuration:\n  ${field}: cannot read ${path.resolve(base, file)} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      }
    };
    const dockerAuths = readDockerAuths(options.dockerConfig ? read(options.dockerConfig, 'verifier.dockerConfig') : undefined);
    for (const [i, r] of options.registries.entries()) {
      const ca = r.ca ? [...tls.rootCertificates, read(r.ca, `verifier.registries[${i}].ca`)] : undefined;
      const credentials = r.username !== undefined ? { username: r.username, password: r.password ?? '' } : dockerAuths.get(r.host) ?? (r.host === 'docker.io' ? dockerAuths.get('https://index.docker.io/v1/') : undefined);
      // Keep-alive per registry: a cached verification by tag costs one manifest request, not a handshake too.
      const agent = r.insecure ? new http.Agent({ keepAlive: true, maxSockets: 32 }) : new https.Agent({ keepAlive: true, maxSockets: 32, ...(ca ? { ca } : {}) });
      this.registries.set(r.host, { config: r, ca, credentials, agent });
    }
  }

  /** Close idle keep-alive connections. */
  close(): void {
    for (const r of this.registries.values()) r.agent.destroy();
  }

  allowed(registry: string): boolean {
    return this.registries.has(registry);
  }

  /** Every request for this image goes through here: the allowlist first. */
  repository(ref: Pick<ImageReference, 'registry' | 'repository'>): RepositoryClient {
    const entry = this.registries.get(ref.registry);
    if (!entry) {
      throw new RegistryError('REGISTRY_NOT_ALLOWED', `registry ${ref.registry} is not in verifier.registries (allowed: ${[...this.registries.keys()].join(', ') || 'none'})`);
    }
    return new RepositoryClient(this, ref.registry, ref.repository, entry.config.insecure ? 'http' : 'https');
  }

  /** @internal */
  async send(registry: string, repository: string, url: URL, accept: string | undefined, maxBytes: number): Promise<Raw> {
    const entry = this.registries.get(registry)!;
    const scope = `repository:${repository}:pull`;
    const tokenKey = `${registry} ${scope}`;
    const auth = (): string | undefined => {
      const token = this.tokens.get(tokenKey);
      if (token) return `Bearer ${token}`;
      if (entry.credentials && this.tokens.get(`${registry} basic`)) return basicAuth(entry.credentials);
      return undefined;
    };
    let res = await this.follow(entry, url, accept, auth(), maxBytes);
    if (res.status === 401) {
      const challenge = parseChallenge(String(res.headers['www-authenticate'] ?? ''));
      if (challenge?.scheme === 'bearer' && challenge.params.realm) {
        this.tokens.set(tokenKey, await this.token(entry, challenge.params, scope));
      } else if (challenge?.scheme === 'basic' && entry.credentials) {
        this.tokens.set(`${registry} basic`, 'yes');
      } else {
        throw new RegistryError('REGISTRY_AUTH_FAILED', `${registry} requires authentication${entry.credentials ? '' : ' and no credentials are configured'}`, 401, registryMessage(res.body));
      }
      res = await this.follow(entry, url, accept, auth(), maxBytes);
      if (res.status === 401 || res.status === 403) {
        throw new RegistryError('REGISTRY_AUTH_FAILED', `${registry} refused the credentials`, res.status, registryMessage(res.body));
      }
    }
    return res;
  }

  private async token(entry: { config: RegistryConfig; ca?: string[]; credentials?: Credentials; agent: http.Agent }, params: Record<string, string>, scope: string): Promise<string> {
    let realm: URL;
    try {
      realm = new URL(params.realm);
    } catch {
      throw new RegistryError('REGISTRY_BAD_RESPONSE', `${entry.config.host} named an invalid token realm`);
    }
    if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && entry.config.insecure)) {
      throw new RegistryError('REGISTRY_BAD_RESPONSE', `${entry.config.host} named a token realm that is not https: ${realm.origin}`);
    }
    if (params.service) realm.searchParams.set('service', params.service);
    realm.searchParams.set('scope', params.scope ?? scope);
    const res = await this.follow(entry, realm, 'application/json', entry.credentials && basicAuth(entry.credentials), 1024 * 1024);
    if (res.status !== 200) {
      throw new RegistryError(res.status === 401 || res.status === 403 ? 'REGISTRY_AUTH_FAILED' : 'REGISTRY_HTTP_ERROR', `token request to ${realm.origin} failed`, res.status, registryMessage(res.body));
    }
    try {
      const json = JSON.parse(res.body.toString('utf8')) as { token?: string; access_token?: string };
      const token = json.token ?? json.access_token;
      if (typeof token !== 'string' || !token) throw new Error('no token');
      return token;
    } catch {
      throw new RegistryError('REGISTRY_BAD_RESPONSE', `token response from ${realm.origin} has no token`);
    }
  }

  /** One request, following at most three redirects; credentials never leave the origin they were meant for. */
  private async follow(entry: { config: RegistryConfig; ca?: string[]; agent: http.Agent }, url: URL, accept: string | undefined, authorization: string | undefined, maxBytes: number): Promise<Raw> {
    let current = url;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { 'user-agent': 'tuf-mirror-verifier' };
      if (accept) headers.accept = accept;
      if (authorization && current.origin === url.origin) headers.authorization = authorization;
      // The registry's keep-alive agent where its scheme fits; anything else gets a one-off connection.
      const agent = current.host === url.host && current.protocol === (entry.config.insecure ? 'http:' : 'https:') ? entry.agent : undefined;
      const res = await rawRequest(current, headers, entry.ca, this.options.timeoutMs, maxBytes, entry.config.host, agent);
      if (res.status >= 300 && res.status < 400 && res.headers.location) {
        if (hop >= 3) throw new RegistryError('REGISTRY_BAD_RESPONSE', `${entry.config.host}: more than 3 redirects`, res.status);
        const next = new URL(String(res.headers.location), current);
        if (next.protocol !== 'https:' && !(next.protocol === 'http:' && entry.config.insecure)) {
          throw new RegistryError('REGISTRY_BAD_RESPONSE', `${entry.config.host} redirected to a non-https URL`, res.status);
        }
        current = next;
        continue;
      }
      return res;
    }
  }
}

export class RepositoryClient {
  constructor(
    private readonly client: RegistryClient,
    readonly registry: string,
    readonly repository: string,
    private readonly scheme: 'http' | 'https',
  ) {}

  private url(p: string): URL {
    return new URL(`${this.scheme}://${apiHost(this.registry)}/v2/${this.repository}/${p}`);
  }

  private limits(): { manifest: number; blob: number } {
    const o = (this.client as unknown as { options: RegistryClientOptions }).options;
    return { manifest: o.maxManifestBytes, blob: o.maxBlobBytes };
  }

  /** A manifest or index by tag or digest; undefined for 404. Its digest is computed, and checked when asked by digest. */
  async manifest(reference: string): Promise<FetchedManifest | undefined> {
    const res = await this.client.send(this.registry, this.repository, this.url(`manifests/${reference}`), MANIFEST_ACCEPT, this.limits().manifest);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw httpError(this.registry, `manifest ${this.repository}:${reference}`, res);
    const digest = sha256(res.body);
    if (reference.startsWith('sha256:') && reference !== digest) {
      throw new RegistryError('DIGEST_MISMATCH', `${this.registry} served manifest ${reference} with digest ${digest}`);
    }
    const claimed = res.headers['docker-content-digest'];
    if (typeof claimed === 'string' && claimed.startsWith('sha256:') && claimed !== digest) {
      throw new RegistryError('DIGEST_MISMATCH', `${this.registry} claims ${claimed} for ${this.repository}:${reference} but its bytes are ${digest}`);
    }
    let manifest: Manifest;
    try {
      manifest = JSON.parse(res.body.toString('utf8')) as Manifest;
      if (!manifest || typeof manifest !== 'object' || Array.isArray(manifest)) throw new Error('not an object');
    } catch (err) {
      throw new RegistryError('REGISTRY_BAD_RESPONSE', `${this.registry}: manifest ${this.repository}:${reference} is not JSON (${(err as Error).message})`, res.status);
    }
    const mediaType = manifest.mediaType ?? String(res.headers['content-type'] ?? '').split(';')[0];
    return { digest, mediaType, bytes: res.body, manifest };
  }

  /** A blob, checked against its digest. */
  async blob(digest: string, maxBytes = this.limits().blob): Promise<Buffer> {
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new RegistryError('REGISTRY_BAD_RESPONSE', `unsupported blob digest ${digest}`);
    const res = await this.client.send(this.registry, this.repository, this.url(`blobs/${digest}`), undefined, maxBytes);
    if (res.status !== 200) throw httpError(this.registry, `blob ${digest}`, res);
    const actual = sha256(res.body);
    if (actual !== digest) throw new RegistryError('DIGEST_MISMATCH', `${this.registry} served blob ${digest} with digest ${actual}`);
    return res.body;
  }

  /**
   * Referrers of a digest through the OCI 1.1 referrers API (following `Link` pagination), or
   * undefined when the registry has no such API (404) so the caller can use the tag fallback.
   */
  async referrers(digest: string, artifactType?: string): Promise<Descriptor[] | undefined> {
    let url: URL | undefined = this.url(`referrers/${digest}`);
    if (artifactType) url.searchParams.set('artifactType', artifactType);
    const out: Descriptor[] = [];
    for (let page = 0; url && page < 20; page++) {
      const res = await this.client.send(this.registry, this.repository, url, MEDIA.ociIndex, this.limits().manifest);
      // Registries without the API answer 404 (distribution 2.8), some 400, 405 or 501.
      if (page === 0 && [400, 404, 405, 501].includes(res.status)) return undefined;
      if (res.status !== 200) throw httpError(this.registry, `referrers of ${digest}`, res);
      let index: Manifest;
      try {
        index = JSON.parse(res.body.toString('utf8')) as Manifest;
      } catch {
        throw new RegistryError('REGISTRY_BAD_RESPONSE', `${this.registry}: referrers of ${digest} is not JSON`, res.status);
      }
      out.push(...(index.manifests ?? []));
      const next = nextLink(res.headers.link);
      url = next ? new URL(next, url) : undefined;
      if (url && url.origin !== this.url('').origin) throw new RegistryError('REGISTRY_BAD_RESPONSE', `${this.registry}: referrers pagination leaves the registry`);
    }
    return artifactType ? out.filter((d) => d.artifactType === undefined || d.artifactType === artifactType) : out;
  }
}

function basicAuth(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

function readDockerAuths(text: string | undefined): Map<string, Credentials> {
  const out = new Map<string, Credentials>();
  if (!text) return out;
  let json: { auths?: Record<string, { auth?: string; username?: string; password?: string }> };
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError('invalid configuration:\n  verifier.dockerConfig: not a JSON docker config');
  }
  json = json as { auths?: Record<string, { auth?: string; username?: string; password?: string }> };
  for (const [host, a] of Object.entries(json.auths ?? {})) {
    if (a.auth) {
      const decoded = Buffer.from(a.auth, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i > 0) out.set(host.replace(/^https?:\/\//, '').replace(/\/.*$/, ''), { username: decoded.slice(0, i), password: decoded.slice(i + 1) });
      if (host === 'https://index.docker.io/v1/' && i > 0) out.set('docker.io', { username: decoded.slice(0, i), password: decoded.slice(i + 1) });
    } else if (a.username !== undefined) {
      out.set(host, { username: a.username, password: a.password ?? '' });
    }
  }
  return out;
}

export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } | undefined {
  const m = /^\s*(\w+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2].matchAll(/(\w+)="([^"]*)"/g)) params[p[1].toLowerCase()] = p[2];
  return { scheme: m[1].toLowerCase(), params };
}

function nextLink(link: string | string[] | undefined): string | undefined {
  const value = Array.isArray(link) ? link.join(',') : link;
  if (!value) return undefined;
  return /<([^>]+)>\s*;\s*rel="?next"?/.exec(value)?.[1];
}

function registryMessage(body: Buffer): string | undefined {
  try {
    const json = JSON.parse(body.toString('utf8')) as { errors?: { code?: string; message?: string }[] };
    const e = json.errors?.[0];
    if (e) return [e.code, e.message].filter(Boolean).join(': ');
  } catch {
    /* not an OCI error body */
  }
  const text = body.toString('utf8', 0, Math.min(body.length, 200)).replace(/\s+/g, ' ').trim();
  return text || undefined;
}

function httpError(registry: string, what: string, res: Raw): RegistryError {
  return new RegistryError('REGISTRY_HTTP_ERROR', `${registry} answered ${res.status} for ${what}`, res.status, registryMessage(res.body));
}

function rawRequest(url: URL, headers: Record<string, string>, ca: string[] | undefined, timeoutMs: number, maxBytes: number, registry: string, agent?: http.Agent): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const lib = url.protocol === 'https:' ? https : http;
    let settled = false;
    const fail = (err: RegistryError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(err);
    };
    const req = lib.request(url, { method: 'GET', headers, ...(ca && url.protocol === 'https:' ? { ca } : {}), agent: agent ?? false }, (res) => {
      const length = Number(res.headers['content-length']);
      if (Number.isFinite(length) && length > maxBytes) {
        fail(new RegistryError('RESPONSE_TOO_LARGE', `${registry}: ${url.pathname} is ${length} bytes, more than the ${maxBytes} allowed`, res.statusCode));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) fail(new RegistryError('RESPONSE_TOO_LARGE', `${registry}: ${url.pathname} sent more than the ${maxBytes} bytes allowed`, res.statusCode));
        else chunks.push(c);
      });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on('error', (err) => fail(new RegistryError('REGISTRY_UNREACHABLE', `${registry}: ${err.message}`)));
    });
    const timer = setTimeout(() => fail(new RegistryError('REGISTRY_TIMEOUT', `${registry}: no complete answer for ${url.pathname} within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => fail(new RegistryError('REGISTRY_UNREACHABLE', `${registry}: ${err.code ?? err.message}`)));
    req.end();
  });
}
