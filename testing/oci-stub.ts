/**
 * A small OCI distribution registry stub on 127.0.0.1 for what a real registry cannot hold (the
 * containers/image fixture manifests have no blobs) or will not do on purpose (hang, drip,
 * garbage, huge bodies, bearer-token auth). Read-only: manifests, blobs, the referrers API.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';

export const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

type Misbehaviour = { status?: number; delayMs?: number; body?: Buffer | string; oversizeTo?: number; contentType?: string; headers?: Record<string, string> };

export class OciStub {
  /** repository → reference (tag or digest) → manifest bytes and media type. */
  readonly manifests = new Map<string, Map<string, { bytes: Buffer; mediaType: string }>>();
  readonly blobs = new Map<string, Buffer>();
  /** Path regexps → misbehaviour. */
  readonly overrides: { match: RegExp; how: Misbehaviour }[] = [];
  /** Serve the OCI 1.1 referrers API (else 404, as registries without it do). */
  referrersApi = true;
  /** Page the referrers API this many descriptors at a time (Link: rel="next"). */
  referrersPageSize?: number;
  /** Require `Authorization: Bearer <token>` from the /token realm (basic user:pass). */
  auth?: { username: string; password: string };
  readonly requests: string[] = [];
  /** Body bytes written for blob requests: what a verification made this registry send. */
  blobBytesSent = 0;
  private server!: http.Server;
  url = '';
  host = '';

  /** Listen on 127.0.0.1 (`port` 0: any); with `tls`, over HTTPS. */
  async start(port = 0, tls?: { key: string | Buffer; cert: string | Buffer }): Promise<this> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => void this.handle(req, res);
    this.server = tls ? https.createServer({ key: tls.key, cert: tls.cert }, handler) : http.createServer(handler);
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', r));
    this.host = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.url = `${tls ? 'https' : 'http'}://${this.host}`;
    return this;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  addBlob(bytes: Buffer | string): string {
    const b = Buffer.from(bytes);
    const d = sha256(b);
    this.blobs.set(d, b);
    return d;
  }

  /** Store a manifest under its digest and the given tags; returns its digest. */
  addManifest(repository: string, manifest: Buffer | string | object, tags: string[] = [], mediaType?: string): string {
    const bytes = Buffer.isBuffer(manifest) ? manifest : Buffer.from(typeof manifest === 'string' ? manifest : JSON.stringify(manifest));
    const type = mediaType ?? (JSON.parse(bytes.toString()) as { mediaType?: string }).mediaType ?? 'application/vnd.oci.image.manifest.v1+json';
    const d = sha256(bytes);
    let m = this.manifests.get(repository);
    if (!m) this.manifests.set(repository, (m = new Map<string, { bytes: Buffer; mediaType: string }>()));
    for (const ref of [d, ...tags]) m.set(ref, { bytes, mediaType: type });
    return d;
  }

  misbehave(match: RegExp, how: Misbehaviour): void {
    this.overrides.unshift({ match, how });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stub');
    this.requests.push(url.pathname + url.search);
    const o = this.overrides.find((x) => x.match.test(url.pathname));
    if (o?.how.delayMs) await new Promise((r) => setTimeout(r, o.how.delayMs));
    if (o && (o.how.status || o.how.body !== undefined || o.how.oversizeTo)) {
      res.statusCode = o.how.status ?? 200;
      res.setHeader('content-type', o.how.contentType ?? 'application/json');
      for (const [k, v] of Object.entries(o.how.headers ?? {})) res.setHeader(k, v);
      if (o.how.oversizeTo) {
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        for (let sent = 0; sent < o.how.oversizeTo && !res.destroyed; sent += chunk.length) {
          if (kindOf(url.pathname) === 'blobs') this.blobBytesSent += chunk.length;
          if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
        }
        res.end();
        return;
      }
      res.end(o.how.body ?? JSON.stringify({ errors: [{ code: 'UNKNOWN', message: `stub says ${res.statusCode}` }] }));
      return;
    }
    if (url.pathname === '/token') {
      const expected = this.auth && `Basic ${Buffer.from(`${this.auth.username}:${this.auth.password}`).toString('base64')}`;
      if (req.headers.authorization !== expected) {
        this.json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] });
        return;
      }
      this.json(res, 200, { token: 'stub-token' });
      return;
    }
    if (this.auth && req.headers.authorization !== 'Bearer stub-token') {
      res.setHeader('www-authenticate', `Bearer realm="${this.url}/token",service="stub",scope="repository:x:pull"`);
      this.json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] });
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs|referrers)\/([^/]+)$/.exec(url.pathname);
    if (!m) {
      this.json(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'no route' }] });
      return;
    }
    const [, repository, kind, ref] = m;
    if (kind === 'manifests') {
      const entry = this.manifests.get(repository)?.get(ref);
      if (!entry) {
        this.json(res, 404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] });
        return;
      }
      res.writeHead(200, { 'content-type': entry.mediaType, 'docker-content-digest': sha256(entry.bytes), 'content-length': entry.bytes.length });
      res.end(entry.bytes);
      return;
    }
    if (kind === 'blobs') {
      const blob = this.blobs.get(ref);
      if (!blob) {
        this.json(res, 404, { errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown' }] });
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.length });
      this.blobBytesSent += blob.length;
      res.end(blob);
      return;
    }
    if (!this.referrersApi) {
      this.json(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'no referrers API' }] });
      return;
    }
    const manifests: object[] = [];
    for (const [key, entry] of this.manifests.get(repository) ?? []) {
      if (!key.startsWith('sha256:')) continue;
      const parsed = JSON.parse(entry.bytes.toString()) as { subject?: { digest?: string }; artifactType?: string; config?: { mediaType?: string } };
      if (parsed.subject?.digest !== ref) continue;
      const artifactType = parsed.artifactType ?? parsed.config?.mediaType;
      const wanted = url.searchParams.get('artifactType');
      if (wanted && artifactType !== wanted) continue;
      manifests.push({ mediaType: entry.mediaType, digest: key, size: entry.bytes.length, artifactType });
    }
    let page = manifests;
    const headers: Record<string, string> = { 'content-type': 'application/vnd.oci.image.index.v1+json' };
    if (this.referrersPageSize) {
      const from = Number(url.searchParams.get('last') ?? 0);
      page = manifests.slice(from, from + this.referrersPageSize);
      if (from + this.referrersPageSize < manifests.length) {
        const next = new URL(url.pathname, 'http://x');
        for (const [k, v] of url.searchParams) if (k !== 'last') next.searchParams.set(k, v);
        next.searchParams.set('last', String(from + this.referrersPageSize));
        headers.link = `<${next.pathname}${next.search}>; rel="next"`;
      }
    }
    res.writeHead(200, headers);
    res.end(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: page }));
  }

  private json(res: http.ServerResponse, status: number, body: object): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }
}

function kindOf(pathname: string): string | undefined {
  return /^\/v2\/.+\/(manifests|blobs|referrers)\/[^/]+$/.exec(pathname)?.[1];
}

/** The `.sig` manifest cosign writes: one simple-signing layer per signature. */
export function cosignSigManifest(layers: unknown[]): object {
  return {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', size: 2, digest: sha256('{}') },
    layers,
  };
}

/** An OCI 1.1 artifact manifest carrying a Sigstore bundle for `subject`. */
export function bundleReferrerManifest(bundleDigest: string, bundleSize: number, subject: { digest: string; size: number; mediaType: string }): object {
  return {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', size: 2, digest: sha256('{}') },
    layers: [{ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', size: bundleSize, digest: bundleDigest }],
    subject,
  };
}
