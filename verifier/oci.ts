import { createHash } from 'node:crypto';
import * as dns from 'node:dns';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { ConfigError } from '../config/config';
import type { RegistryConfig } from '../config/verifier';
import { RegistryError } from './errors';
import { apiHost, type ImageReference } from './reference';

// The registry's errors live in errors.ts (what the CLI's exit codes and the HTTP map read, without
// loading this client); importers of this module keep finding them here.
export { RegistryError, type RegistryErrorCode } from './errors';

/**
 * A small OCI distribution client on Node's built-in HTTP client (per-registry CA bundles need
 * node:https; global fetch cannot take one without the undici package): bearer-token and basic
 * auth, plain HTTP only for registries configured insecure, digest checks on everything fetched,
 * timeouts, size caps and a byte budget per verification, at most three redirects, and an
 * allowlist checked before any request.
 *
 * It must not become a proxy into the network it runs in: redirects and token realms stay on the
 * registry's own host or the hosts its entry lists; loopback, link-local and private addresses
 * (IP literals, or whatever a name resolves to, checked at connect time) are refused unless the
 * entry allows them; credentials go to their own hosts only; and nothing a registry answers is
 * repeated to a caller but its status and its OCI error code.
 */

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;
const MANIFEST_ACCEPT = [MEDIA.ociIndex, MEDIA.ociManifest, MEDIA.dockerList, MEDIA.dockerManifest].join(', ');

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

/** A verifier.registries entry; what it leaves out takes the schema's defaults. */
export type RegistryOptions = Pick<RegistryConfig, 'host' | 'insecure'> & Partial<RegistryConfig>;

export type RegistryClientOptions = {
  registries: RegistryOptions[];
  /** A docker config.json (`auths`) for credentials of allowlisted registries. */
  dockerConfig?: string;
  /** Folder relative paths (ca, dockerConfig) are resolved against. */
  baseDir?: string;
  timeoutMs: number;
  maxManifestBytes: number;
  maxBlobBytes: number;
};

/** Bytes one verification may still fetch, shared by all its requests. */
export type ByteBudget = { remaining: number; readonly limit: number };
export const byteBudget = (limit: number): ByteBudget => ({ remaining: limit, limit });

type Credentials = { username: string; password: string };
/** An answer: its body kept only for 2xx (error bodies are read for their OCI code alone), and hashed as it streamed in. */
type Raw = { status: number; headers: http.IncomingHttpHeaders; body: Buffer; digest: string };
type Entry = { config: RegistryConfig; ca?: string[]; credentials?: Credentials; agent: http.Agent; hosts: Set<string>; lookup: net.LookupFunction };

/** Loopback, link-local, private, CGNAT, unspecified, multicast and reserved ranges, v4 and v6. */
const INTERNAL = new net.BlockList();
for (const [a, p] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const)
  INTERNAL.addSubnet(a, p, 'ipv4');
for (const [a, p] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const)
  INTERNAL.addSubnet(a, p, 'ipv6');

/** Is this address one an allowlisted name must not lead to (IPv4-mapped IPv6 judged as IPv4)? */
export function isInternalAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return INTERNAL.check(mapped[1], 'ipv4');
  const family = net.isIP(address);
  if (family === 0) return false;
  return INTERNAL.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

const ADDRESS_REFUSED = 'ETUFMIRROR_ADDRESS_REFUSED';

/** dns.lookup that refuses internal addresses: checked when connecting, so a name cannot resolve one way for a check and another for the request. */
function guardedLookup(allowInternal: boolean): net.LookupFunction {
  return (hostname: string, options: dns.LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const usable = allowInternal ? addresses : addresses.filter((a) => !isInternalAddress(a.address));
      if (!usable.length) {
        const refused: NodeJS.ErrnoException = new Error(`${hostname} resolves to ${addresses.map((a) => a.address).join(', ')}`);
        refused.code = ADDRESS_REFUSED;
        return callback(refused, '', 0);
      }
      if (options.all) callback(null, usable);
      else callback(null, usable[0].address, usable[0].family);
    });
  };
}

export class RegistryClient {
  private readonly registries = new Map<string, Entry>();
  private readonly tokens = new Map<string, string>();

  constructor(private readonly options: RegistryClientOptions) {
    const base = options.baseDir ?? process.cwd();
    const read = (file: string, field: string): string => {
      try {
        return fs.readFileSync(path.resolve(base, file), 'utf8');
      } catch (err) {
        throw new ConfigError('INVALID_CONFIG', `invalid configuration:\n  ${field}: cannot read ${path.resolve(base, file)} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      }
    };
    const dockerAuths = readDockerAuths(options.dockerConfig ? read(options.dockerConfig, 'verifier.dockerConfig') : undefined);
    for (const [i, given] of options.registries.entries()) {
      const r: RegistryConfig = { allowedHosts: [], allowPrivateAddresses: false, ...given };
      const ca = r.ca ? [...tls.rootCertificates, read(r.ca, `verifier.registries[${i}].ca`)] : undefined;
      const credentials =
        r.username !== undefined
          ? { username: r.username, password: r.password ?? '' }
          : (dockerAuths.get(r.host) ?? (r.host === 'docker.io' ? dockerAuths.get('https://index.docker.io/v1/') : undefined));
      // Keep-alive per registry: a cached verification by tag costs one manifest request, not a handshake too.
      const agent = r.insecure ? new http.Agent({ keepAlive: true, maxSockets: 32 }) : new https.Agent({ keepAlive: true, maxSockets: 32, ...(ca ? { ca } : {}) });
      this.registries.set(r.host, { config: r, ca, credentials, agent, hosts: new Set([apiHost(r.host), ...r.allowedHosts]), lookup: guardedLookup(r.allowPrivateAddresses) });
    }
  }

  /** Close idle keep-alive connections. */
  close(): void {
    for (const r of this.registries.values()) r.agent.destroy();
  }

  /** @internal */
  limits(): { manifest: number; blob: number } {
    return { manifest: this.options.maxManifestBytes, blob: this.options.maxBlobBytes };
  }

  allowed(registry: string): boolean {
    return this.registries.has(registry);
  }

  /** Every request for this image goes through here: the allowlist first. `budget`: bytes all its requests may fetch. */
  repository(ref: Pick<ImageReference, 'registry' | 'repository'>, budget: ByteBudget = byteBudget(Number.MAX_SAFE_INTEGER)): RepositoryClient {
    const entry = this.entryOf(ref.registry);
    refuseInternalLiteral(entry, apiHost(ref.registry));
    return new RepositoryClient(this, ref.registry, ref.repository, entry.config.insecure ? 'http' : 'https', budget);
  }

  private entryOf(registry: string): Entry {
    const entry = this.registries.get(registry);
    if (!entry) {
      throw new RegistryError('REGISTRY_NOT_ALLOWED', `registry ${registry} is not in verifier.registries (allowed: ${[...this.registries.keys()].join(', ') || 'none'})`);
    }
    return entry;
  }

  /** @internal */
  async send(registry: string, repository: string, url: URL, accept: string | undefined, maxBytes: number, budget: ByteBudget): Promise<Raw> {
    // Only a RepositoryClient from repository() calls this, for a registry it found allowed.
    const entry = this.entryOf(registry);
    const scope = `repository:${repository}:pull`;
    const tokenKey = `${registry} ${scope}`;
    const auth = (): string | undefined => {
      const token = this.tokens.get(tokenKey);
      if (token) return `Bearer ${token}`;
      if (entry.credentials && this.tokens.get(`${registry} basic`)) return basicAuth(entry.credentials);
      return undefined;
    };
    let res = await this.follow(entry, url, accept, auth(), maxBytes, budget);
    if (res.status === 401) {
      const challenge = parseChallenge(res.headers['www-authenticate'] ?? '');
      if (challenge?.scheme === 'bearer' && challenge.params.realm) {
        this.tokens.set(tokenKey, await this.token(entry, challenge.params.realm, challenge.params, scope, budget));
      } else if (challenge?.scheme === 'basic' && entry.credentials) {
        this.tokens.set(`${registry} basic`, 'yes');
      } else {
        throw new RegistryError('REGISTRY_AUTH_FAILED', `${registry} requires authentication${entry.credentials ? '' : ' and no credentials are configured'}`, 401, registryCode(res.body));
      }
      res = await this.follow(entry, url, accept, auth(), maxBytes, budget);
      if (res.status === 401 || res.status === 403) {
        throw new RegistryError('REGISTRY_AUTH_FAILED', `${registry} refused the credentials`, res.status, registryCode(res.body));
      }
    }
    return res;
  }

  private async token(entry: Entry, realmUrl: string, params: Partial<Record<string, string>>, scope: string, budget: ByteBudget): Promise<string> {
    let realm: URL;
    try {
      realm = new URL(realmUrl);
    } catch {
      throw new RegistryError('REGISTRY_BAD_RESPONSE', `${entry.config.host} named an invalid token realm`);
    }
    if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && entry.config.insecure)) {
      throw new RegistryError('REGISTRY_BAD_RESPONSE', `${entry.config.host} named a token realm that is not https: ${realm.origin}`);
    }
    // The credentials are for the registry: a realm elsewhere would receive them.
    if (!entry.hosts.has(realm.host)) {
      throw new RegistryError('REGISTRY_AUTH_FAILED', `${entry.config.host} named a token realm on ${realm.host}, which is neither ${apiHost(entry.config.host)} nor one of its allowedHosts`);
    }
    if (params.service) realm.searchParams.set('service', params.service);
    realm.searchParams.set('scope', params.scope ?? scope);
    const res = await this.follow(entry, realm, 'application/json', entry.credentials && basicAuth(entry.credentials), 64 * 1024, budget);
    if (res.status !== 200) {
      throw new RegistryError(res.status === 401 || res.status === 403 ? 'REGISTRY_AUTH_FAILED' : 'REGISTRY_HTTP_ERROR', `token request to ${realm.origin} failed`, res.status, registryCode(res.body));
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

  /**
   * One request, following at most three redirects, each to the registry's own host or one of its
   * allowedHosts; credentials never leave the origin they were meant for.
   */
  private async follow(entry: Entry, url: URL, accept: string | undefined, authorization: string | undefined, maxBytes: number, budget: ByteBudget): Promise<Raw> {
    let current = url;
    for (let hop = 0; ; hop++) {
      refuseInternalLiteral(entry, current.host);
      const headers: Record<string, string> = { 'user-agent': 'tuf-mirror-verifier' };
      if (accept) headers.accept = accept;
      if (authorization && current.origin === url.origin) headers.authorization = authorization;
      // The registry's keep-alive agent where its scheme fits; anything else gets a one-off connection.
      const agent = current.host === url.host && current.protocol === (entry.config.insecure ? 'http:' : 'https:') ? entry.agent : undefined;
      const res = await rawRequest(current, headers, { ca: entry.ca, timeoutMs: this.options.timeoutMs, maxBytes, budget, registry: entry.config.host, agent, lookup: entry.lookup });
      if (res.status >= 300 && res.status < 400 && res.headers.location) {
        if (hop >= 3) throw new RegistryError('REGISTRY_BAD_RESPONSE', `${entry.config.host}: more than 3 redirects`, res.status);
        let next: URL;
        try {
          next = new URL(res.headers.location, current);
        } catch {
          throw new RegistryError('REGISTRY_BAD_RESPONSE', `${entry.config.host} redirected to an invalid URL`, res.status);
        }
        if (next.protocol !== 'https:' && !(next.protocol === 'http:' && entry.config.insecure)) {
          throw new RegistryError('REGISTRY_BAD_RESPONSE', `${entry.config.host} redirected to a non-https URL`, res.status);
        }
        if (!entry.hosts.has(next.host)) {
          throw new RegistryError('REGISTRY_BAD_RESPONSE', `${entry.config.host} redirected to ${next.host}, which is neither ${apiHost(entry.config.host)} nor one of its allowedHosts`, res.status);
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
    private readonly budget: ByteBudget,
  ) {}

  private send(url: URL, accept: string | undefined, maxBytes: number): Promise<Raw> {
    return this.client.send(this.registry, this.repository, url, accept, maxBytes, this.budget);
  }

  private url(p: string): URL {
    return new URL(`${this.scheme}://${apiHost(this.registry)}/v2/${this.repository}/${p}`);
  }

  private limits(): { manifest: number; blob: number } {
    return this.client.limits();
  }

  /** A manifest or index by tag or digest; undefined for 404. Its digest is computed, and checked when asked by digest. */
  async manifest(reference: string): Promise<FetchedManifest | undefined> {
    const res = await this.send(this.url(`manifests/${reference}`), MANIFEST_ACCEPT, this.limits().manifest);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw httpError(this.registry, `manifest ${this.repository}:${reference}`, res);
    const digest = res.digest;
    if (reference.startsWith('sha256:') && reference !== digest) {
      throw new RegistryError('DIGEST_MISMATCH', `${this.registry} served manifest ${reference} with digest ${digest}`);
    }
    const claimed = res.headers['docker-content-digest'];
    if (typeof claimed === 'string' && claimed.startsWith('sha256:') && claimed !== digest) {
      throw new RegistryError('DIGEST_MISMATCH', `${this.registry} claims ${claimed} for ${this.repository}:${reference} but its bytes are ${digest}`);
    }
    let manifest: Manifest;
    try {
      const parsed: unknown = JSON.parse(res.body.toString('utf8'));
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      manifest = parsed;
    } catch {
      throw new RegistryError('REGISTRY_BAD_RESPONSE', `${this.registry}: manifest ${this.repository}:${reference} is not a JSON object`, res.status);
    }
    const mediaType = manifest.mediaType ?? (res.headers['content-type'] ?? '').split(';')[0];
    return { digest, mediaType, bytes: res.body, manifest };
  }

  /** A blob, hashed as it streams in and checked against its digest (and its descriptor's size, when given). */
  async blob(digest: string, maxBytes = this.limits().blob, size?: number): Promise<Buffer> {
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new RegistryError('REGISTRY_BAD_RESPONSE', `unsupported blob digest ${digest}`);
    const res = await this.send(this.url(`blobs/${digest}`), undefined, size !== undefined ? Math.min(size, maxBytes) : maxBytes);
    if (res.status !== 200) throw httpError(this.registry, `blob ${digest}`, res);
    if (res.digest !== digest) throw new RegistryError('DIGEST_MISMATCH', `${this.registry} served blob ${digest} with digest ${res.digest}`);
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
      const res = await this.send(url, MEDIA.ociIndex, this.limits().manifest);
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
    json = JSON.parse(text) as typeof json;
  } catch {
    throw new ConfigError('INVALID_CONFIG', 'invalid configuration:\n  verifier.dockerConfig: not a JSON docker config');
  }
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

// Partial: a challenge names whichever parameters the registry chose to send.
export function parseChallenge(header: string): { scheme: string; params: Partial<Record<string, string>> } | undefined {
  const m = /^\s*(\w+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Partial<Record<string, string>> = {};
  for (const p of m[2].matchAll(/(\w+)="([^"]*)"/g)) params[p[1].toLowerCase()] = p[2];
  return { scheme: m[1].toLowerCase(), params };
}

function nextLink(link: string | string[] | undefined): string | undefined {
  const value = Array.isArray(link) ? link.join(',') : link;
  if (!value) return undefined;
  return /<([^>]+)>\s*;\s*rel="?next"?/.exec(value)?.[1];
}

/** The code of an OCI error body, if it has one of the spec's shape (`MANIFEST_UNKNOWN`); nothing else of it. */
function registryCode(body: Buffer): string | undefined {
  try {
    const code = (JSON.parse(body.toString('utf8')) as { errors?: { code?: unknown }[] }).errors?.[0]?.code;
    return typeof code === 'string' && /^[A-Z][A-Z_]{0,63}$/.test(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

function httpError(registry: string, what: string, res: Raw): RegistryError {
  return new RegistryError('REGISTRY_HTTP_ERROR', `${registry} answered ${res.status} for ${what}`, res.status, registryCode(res.body));
}

/** An IP literal is never looked up, so its range is checked here. */
function refuseInternalLiteral(entry: Entry, host: string): void {
  const literal = host.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  if (!entry.config.allowPrivateAddresses && isInternalAddress(literal)) {
    throw new RegistryError(
      'REGISTRY_ADDRESS_REFUSED',
      `${host} is a loopback, link-local or private address; set allowPrivateAddresses: true on the verifier.registries entry for ${entry.config.host} if it is meant`,
    );
  }
}

/** Bodies of answers other than 2xx are read this far, for their error code only. */
const ERROR_BODY_BYTES = 16 * 1024;

type RequestOptions = { ca?: string[]; timeoutMs: number; maxBytes: number; budget: ByteBudget; registry: string; agent?: http.Agent; lookup: net.LookupFunction };

function rawRequest(url: URL, headers: Record<string, string>, o: RequestOptions): Promise<Raw> {
  const { registry, budget } = o;
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
    const overBudget = (status?: number): RegistryError =>
      new RegistryError('RESPONSE_TOO_LARGE', `${registry}: the verification's byte budget (verifier.maxBytesPerVerification, ${budget.limit} bytes) is spent`, status);
    const req = lib.request(url, { method: 'GET', headers, ...(o.ca && url.protocol === 'https:' ? { ca: o.ca } : {}), agent: o.agent ?? false, lookup: o.lookup }, (res) => {
      const status = res.statusCode ?? 0;
      const ok = status >= 200 && status < 300;
      // Redirects carry nothing we read; error bodies only their code.
      const keep = ok ? o.maxBytes : status >= 300 && status < 400 ? 0 : Math.min(o.maxBytes, ERROR_BODY_BYTES);
      const length = Number(res.headers['content-length']);
      if (ok && Number.isFinite(length) && length > o.maxBytes) {
        fail(new RegistryError('RESPONSE_TOO_LARGE', `${registry}: ${url.pathname} is ${length} bytes, more than the ${o.maxBytes} allowed`, status));
        return;
      }
      if (ok && Number.isFinite(length) && length > budget.remaining) {
        fail(overBudget(status));
        return;
      }
      const hash = createHash('sha256');
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        budget.remaining -= c.length;
        if (budget.remaining < 0) return fail(overBudget(status));
        if (size > keep) {
          if (ok) return fail(new RegistryError('RESPONSE_TOO_LARGE', `${registry}: ${url.pathname} sent more than the ${o.maxBytes} bytes allowed`, status));
          return; // the rest of an error or redirect body is counted and dropped
        }
        hash.update(c);
        chunks.push(c);
      });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status, headers: res.headers, body: Buffer.concat(chunks), digest: `sha256:${hash.digest('hex')}` });
      });
      res.on('error', (err) => fail(new RegistryError('REGISTRY_UNREACHABLE', `${registry}: ${(err as NodeJS.ErrnoException).code ?? 'connection error'}`)));
    });
    const timer = setTimeout(() => fail(new RegistryError('REGISTRY_TIMEOUT', `${registry}: no complete answer for ${url.pathname} within ${o.timeoutMs} ms`)), o.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === ADDRESS_REFUSED) {
        fail(
          new RegistryError(
            'REGISTRY_ADDRESS_REFUSED',
            `${err.message}: a loopback, link-local or private address; set allowPrivateAddresses: true on the verifier.registries entry for ${registry} if it is meant`,
          ),
        );
      } else fail(new RegistryError('REGISTRY_UNREACHABLE', `${registry}: ${err.code ?? err.message}`));
    });
    req.end();
  });
}
