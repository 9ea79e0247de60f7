import { unsafePathReason } from '../lib/layout';
import { redactUrl } from '../lib/log';
import { splitCredentials } from '../lib/url';
import { SyncError } from './errors';

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
export interface Source {
  /** Shown in logs, status and sync runs; never holds credentials. */
  readonly description: string;
  /** The bytes of `path` in the upstream layout (`timestamp.json`, `targets/<hash>.x`). */
  get(path: string, limits: FetchLimits): Promise<Buffer>;
  /** Optional: read or check the source as a whole before the first get() (an import archive). */
  open?(): Promise<void>;
}

export type HttpSourceOptions = {
  /** Whole-request deadline: headers and body. A slow drip cannot hold a sync forever. */
  timeoutMs: number;
  userAgent: string;
};

export class HttpSource implements Source {
  readonly description: string;
  private readonly base: string;
  private readonly authorization?: string;

  constructor(upstream: string, private readonly options: HttpSourceOptions) {
    // fetch() refuses URLs with credentials; send them as a header instead.
    const { url, authorization } = splitCredentials(upstream);
    this.authorization = authorization;
    this.base = url.replace(/\/+$/, '');
    this.description = redactUrl(upstream);
  }

  async get(path: string, limits: FetchLimits): Promise<Buffer> {
    // `..` would leave the upstream's base path once the URL is resolved: never asked for.
    const unsafe = unsafePathReason(path);
    if (unsafe) throw new SyncError('UNSAFE_PATH', `${this.description}: refusing to request "${path}": ${unsafe}`);
    const url = `${this.base}/${path.split('/').map(encodeURIComponent).join('/')}`;
    const deadline = AbortSignal.timeout(this.options.timeoutMs);
    const signal = limits.signal ? AbortSignal.any([deadline, limits.signal]) : deadline;
    const headers: Record<string, string> = { 'user-agent': this.options.userAgent };
    if (this.authorization) headers.authorization = this.authorization;

    let response: Response;
    try {
      response = await fetch(url, { signal, headers, redirect: 'follow' });
    } catch (err) {
      throw this.transportError(path, err, deadline, limits.signal);
    }
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined);
      throw new SyncError('UPSTREAM_HTTP_ERROR', `${this.description}/${path}: HTTP ${response.status}`, undefined, { status: response.status });
    }
    const declared = Number(response.headers.get('content-length') ?? NaN);
    if (declared > limits.maxBytes) {
      await response.body?.cancel().catch(() => undefined);
      throw tooLarge(this.description, path, limits.maxBytes, `Content-Length ${declared}`);
    }

    const chunks: Buffer[] = [];
    let received = 0;
    try {
      for await (const chunk of response.body ?? []) {
        received += chunk.length;
        if (received > limits.maxBytes) {
          await response.body?.cancel().catch(() => undefined);
          throw tooLarge(this.description, path, limits.maxBytes, 'the body kept coming');
        }
        chunks.push(Buffer.from(chunk));
      }
    } catch (err) {
      if (err instanceof SyncError) throw err;
      throw this.transportError(path, err, deadline, limits.signal);
    }
    return Buffer.concat(chunks, received);
  }

  private transportError(path: string, err: unknown, deadline: AbortSignal, cancel?: AbortSignal): SyncError {
    if (cancel?.aborted) return new SyncError('CANCELLED', `${this.description}/${path}: sync cancelled`, undefined, { cause: err });
    if (deadline.aborted) {
      return new SyncError('UPSTREAM_TIMEOUT', `${this.description}/${path}: no complete answer within ${this.options.timeoutMs} ms`, undefined, { cause: err });
    }
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const detail = cause?.code ?? cause?.message ?? (err as Error).message;
    return new SyncError('UPSTREAM_UNREACHABLE', `${this.description}/${path}: ${detail}`, undefined, { cause: err });
  }
}

const tooLarge = (source: string, path: string, max: number, what: string): SyncError =>
  new SyncError('RESPONSE_TOO_LARGE', `${source}/${path}: larger than the ${max} bytes allowed (${what})`);

/**
 * Files already in memory: what an origin repository just signed. It still goes through the
 * whole TUF workflow before anything is committed, like bytes from any other source.
 */
export class MapSource implements Source {
  constructor(
    private readonly files: ReadonlyMap<string, Buffer>,
    readonly description: string,
  ) {}

  async get(path: string, limits: FetchLimits): Promise<Buffer> {
    const bytes = this.files.get(path);
    if (!bytes) throw new SyncError('UPSTREAM_HTTP_ERROR', `${this.description}/${path}: not found`, undefined, { status: 404 });
    if (bytes.length > limits.maxBytes) throw tooLarge(this.description, path, limits.maxBytes, `${bytes.length} bytes`);
    return bytes;
  }
}
