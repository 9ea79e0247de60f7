import * as http from 'node:http';
import * as https from 'node:https';
import { unsafePathReason } from '../lib/layout';
import { redactUrl } from '../lib/log';
import { splitCredentials } from '../lib/url';
import { SyncError } from './errors';
import { systemCode } from '../lib/errors';

export type FetchLimits = {
  /** Fail with RESPONSE_TOO_LARGE past this many bytes. */
  maxBytes: number;
  /** Aborts the request when the sync is cancelled (the service is shutting down). */
  signal?: AbortSignal;
};

/**
 * Where a sync reads a repository from: an upstream over HTTP, another tuf-mirror, an archive.
 * A source only transports bytes; nothing it returns is trusted until the TUF workflow says so.
 */
export type Source = {
  /** Shown in logs, status and sync runs; never holds credentials. */
  readonly description: string;
  /** The bytes of `path` in the upstream layout (`timestamp.json`, `targets/<hash>.x`). */
  get(path: string, limits: FetchLimits): Promise<Buffer>;
  /** Optional: read or check the source as a whole before the first get() (an import archive). */
  open?(): Promise<void>;
  /** Optional: release what the source holds open (idle connections) once the run is over. */
  close?(): void;
};

export type HttpSourceOptions = {
  /** Whole-request deadline: redirects, headers and body. A slow drip cannot hold a sync forever. */
  timeoutMs: number;
  userAgent: string;
};

/** Redirects followed at most, as fetch() does. */
const MAX_REDIRECTS = 20;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Where a request goes, as node:http takes it (no URL parsed per request). */
type Target = { protocol: string; hostname: string; port: string; path: string; origin: string; href: string };

function targetOf(url: URL): Target {
  // node:http wants an IPv6 literal without its brackets.
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { protocol: url.protocol, hostname, port: url.port, path: url.pathname + url.search, origin: url.origin, href: url.href };
}

/**
 * An upstream over HTTP(S), through node:http with keep-alive connections: a sync asks for
 * thousands of small files a few at a time, and per request this costs a third of what fetch()
 * does. Redirects are followed (credentials only to the same origin, http and https only).
 */
export class HttpSource implements Source {
  readonly description: string;
  private readonly base: Target;
  /** The base path without its trailing slash: every request path is `<basePath>/<path>`. */
  private readonly basePath: string;
  private readonly authorization?: string;
  private readonly agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };

  constructor(
    upstream: string,
    private readonly options: HttpSourceOptions,
  ) {
    // Credentials never go into a request URL; they are sent as a header instead.
    const { url, authorization } = splitCredentials(upstream);
    this.authorization = authorization;
    this.base = targetOf(new URL(url));
    this.basePath = this.base.path.replace(/\/+$/, '');
    this.description = redactUrl(upstream);
  }

  get(path: string, limits: FetchLimits): Promise<Buffer> {
    // `..` would leave the upstream's base path once the URL is resolved: never asked for.
    const unsafe = unsafePathReason(path);
    if (unsafe) return Promise.reject(new SyncError('UNSAFE_PATH', `${this.description}: refusing to request "${path}": ${unsafe}`));
    const where = `${this.description}/${path}`;
    const encoded = path.split('/').map(encodeURIComponent).join('/');
    const url: Target = { ...this.base, path: `${this.basePath}/${encoded}`, href: `${this.base.origin}${this.basePath}/${encoded}` };
    return new Promise<Buffer>((resolve, reject) => {
      let done = false;
      let request: http.ClientRequest | undefined;
      const finish = (outcome: { bytes: Buffer } | { error: SyncError }): void => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        limits.signal?.removeEventListener('abort', cancel);
        if ('bytes' in outcome) resolve(outcome.bytes);
        else {
          request?.destroy();
          reject(outcome.error);
        }
      };
      const fail = (error: SyncError): void => finish({ error });
      const deadline = setTimeout(() => fail(new SyncError('UPSTREAM_TIMEOUT', `${where}: no complete answer within ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
      const cancel = (): void => fail(new SyncError('CANCELLED', `${where}: sync cancelled`));
      if (limits.signal?.aborted) return cancel();
      limits.signal?.addEventListener('abort', cancel, { once: true });

      const send = (target: Target, redirects: number, authorization: string | undefined): void => {
        const headers: Record<string, string> = { 'user-agent': this.options.userAgent };
        if (authorization) headers.authorization = authorization;
        const client = target.protocol === 'https:' ? https : http;
        const agent = target.protocol === 'https:' ? this.agents['https:'] : this.agents['http:'];
        const { protocol, hostname, port, path: requestPath } = target;
        request = client.get({ protocol, hostname, port, path: requestPath, agent, headers }, (response) => {
          const status = response.statusCode ?? 0;
          if (REDIRECTS.has(status) && response.headers.location) {
            response.destroy();
            if (redirects >= MAX_REDIRECTS) return fail(new SyncError('UPSTREAM_UNREACHABLE', `${where}: more than ${MAX_REDIRECTS} redirects`));
            let next: URL;
            try {
              next = new URL(response.headers.location, target.href);
            } catch {
              return fail(new SyncError('UPSTREAM_UNREACHABLE', `${where}: a redirect to an invalid location`));
            }
            if (next.protocol !== 'http:' && next.protocol !== 'https:') return fail(new SyncError('UPSTREAM_UNREACHABLE', `${where}: a redirect to a ${next.protocol} URL`));
            return send(targetOf(next), redirects + 1, next.origin === target.origin ? authorization : undefined);
          }
          if (status !== 200) {
            // Not drained: an error page may be endless.
            response.destroy();
            return fail(new SyncError('UPSTREAM_HTTP_ERROR', `${where}: HTTP ${status}`, undefined, { status }));
          }
          const declared = Number(response.headers['content-length'] ?? NaN);
          if (declared > limits.maxBytes) return fail(tooLarge(this.description, path, limits.maxBytes, `Content-Length ${declared}`));
          const chunks: Buffer[] = [];
          let received = 0;
          response.on('data', (chunk: Buffer) => {
            received += chunk.length;
            if (received > limits.maxBytes) fail(tooLarge(this.description, path, limits.maxBytes, 'the body kept coming'));
            else chunks.push(chunk);
          });
          response.on('end', () => {
            if (response.complete) finish({ bytes: Buffer.concat(chunks, received) });
            else fail(new SyncError('UPSTREAM_UNREACHABLE', `${where}: the connection closed mid-body`));
          });
          response.on('error', (err) => fail(unreachable(where, err)));
          // After 'end' as well: only a response that did not end is a failure (no error built for the others).
          response.on('close', () => {
            if (!done) fail(new SyncError('UPSTREAM_UNREACHABLE', `${where}: the connection closed mid-body`));
          });
        });
        request.on('error', (err) => fail(unreachable(where, err)));
      };
      send(url, 0, this.authorization);
    });
  }

  /** Close idle connections (a sync run is over). */
  close(): void {
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }
}

function unreachable(where: string, err: Error): SyncError {
  const detail = systemCode(err) ?? err.message;
  return new SyncError('UPSTREAM_UNREACHABLE', `${where}: ${detail}`, undefined, { cause: err });
}

const tooLarge = (source: string, path: string, max: number, what: string): SyncError => new SyncError('RESPONSE_TOO_LARGE', `${source}/${path}: larger than the ${max} bytes allowed (${what})`);

/**
 * Files already in memory: what an origin repository just signed. It still goes through the
 * whole TUF workflow before anything is committed, like bytes from any other source.
 */
export class MapSource implements Source {
  constructor(
    private readonly files: ReadonlyMap<string, Buffer>,
    readonly description: string,
  ) {}

  // Nothing to wait for, but a Source answers with a promise: failures reject, as any source's do.
  get(path: string, limits: FetchLimits): Promise<Buffer> {
    const bytes = this.files.get(path);
    if (!bytes) return Promise.reject(new SyncError('UPSTREAM_HTTP_ERROR', `${this.description}/${path}: not found`, undefined, { status: 404 }));
    if (bytes.length > limits.maxBytes) return Promise.reject(tooLarge(this.description, path, limits.maxBytes, `${bytes.length} bytes`));
    return Promise.resolve(bytes);
  }
}
