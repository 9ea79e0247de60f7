/**
 * A real HTTP server on 127.0.0.1 playing a TUF upstream: it serves a file map or a directory,
 * and can misbehave per path (status, delay, slow or oversized or replaced body, dropped socket).
 */
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** A file map, a function returning the current one (so state can change between syncs), or a directory. */
export type UpstreamSource = Map<string, Buffer> | (() => Map<string, Buffer>) | string;

/** Matches a path as in files(): no leading slash, percent-decoded, e.g. `targets/a/b.json`. */
export type PathMatcher = string | RegExp;

/** Misbehaviours; they combine (e.g. a delay and a drip). */
export type Override = {
  /** Respond with this status; its body is `body` or a short text, not the file. */
  status?: number;
  /** Wait this long before the headers. */
  delayMs?: number;
  /** Serve these bytes instead of the file (even a missing one), e.g. malformed JSON or a flipped byte. */
  body?: Buffer | string;
  /**
   * Pad the body with spaces up to this many bytes, sent chunked without Content-Length so only a
   * client that counts can stop it. Spaces keep JSON valid, so parsing alone does not catch it.
   */
  oversizeTo?: number;
  /** Send the body `chunkSize` bytes at a time every `intervalMs` (slowloris). */
  drip?: { chunkSize: number; intervalMs: number };
  /** Drop the connection: without any response, or after the headers and half the body. */
  destroy?: 'before-headers' | 'mid-body';
  /** Apply to the next `times` matching requests only (default: until removed). */
  times?: number;
};

/** Full control of a request; `next()` serves it the normal way (files and overrides). */
export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, next: () => Promise<void>) => unknown;

export type UpstreamServer = {
  /** `http://127.0.0.1:<port>[/<basePath>]`, without trailing slash. */
  readonly url: string;
  readonly port: number;
  /** Paths requested, in order, in PathMatcher form (with the base path, if any). */
  readonly requests: string[];
  /** Adds an override; the latest added wins when several match. Returns its remover. */
  override(matcher: PathMatcher, override: Override): () => void;
  clearOverrides(): void;
  /** Routes every request through `handler` (undefined: back to normal serving). */
  setHandler(handler: Handler | undefined): void;
  setSource(source: UpstreamSource): void;
  /** Stops the server, ending in-flight responses and idle keep-alive connections. */
  close(): Promise<void>;
};

const CHUNK = 64 * 1024;

export type UpstreamServerOptions = {
  /**
   * Serve the repository under this path (e.g. `repo`: `/repo/timestamp.json`); anything outside
   * it is a 404, and recorded like every request, so a test can prove nothing outside was asked for.
   */
  basePath?: string;
};

export async function startUpstreamServer(initialSource: UpstreamSource, options: UpstreamServerOptions = {}): Promise<UpstreamServer> {
  const prefix = options.basePath ? `${options.basePath.replace(/^\/+|\/+$/g, '')}/` : '';
  let source = initialSource;
  let handler: Handler | undefined;
  let overrides: { matcher: PathMatcher; override: Override }[] = [];
  const requests: string[] = [];
  // Aborts pending delays and drips on close(), so that no timer outlives the server.
  const closing = new AbortController();

  const takeOverride = (rel: string): Override | undefined => {
    // search(), unlike test(), ignores the lastIndex state of a /g RegExp.
    const entry = overrides.findLast(({ matcher }) => (typeof matcher === 'string' ? matcher === rel : rel.search(matcher) !== -1));
    if (!entry) return undefined;
    if (entry.override.times !== undefined && --entry.override.times <= 0) overrides = overrides.filter((e) => e !== entry);
    return entry.override;
  };

  const serve = async (rel: string, res: http.ServerResponse): Promise<void> => {
    const override = takeOverride(rel) ?? {};
    if (override.delayMs) await sleep(override.delayMs, undefined, { signal: closing.signal });
    if (override.destroy === 'before-headers') {
      res.socket?.destroy();
      return;
    }
    const inside = rel.startsWith(prefix);
    const file = override.status === undefined && override.body === undefined && inside ? await lookup(source, rel.slice(prefix.length)) : undefined;
    const status = override.status ?? (override.body !== undefined || file ? 200 : 404);
    let body = override.body !== undefined ? Buffer.from(override.body) : (file ?? Buffer.from(`${status} ${http.STATUS_CODES[status] ?? ''}\n`));
    const headers: http.OutgoingHttpHeaders = { 'Content-Type': rel.endsWith('.json') ? 'application/json' : 'application/octet-stream' };
    if (override.oversizeTo !== undefined && override.oversizeTo > body.length) {
      body = Buffer.concat([body, Buffer.alloc(override.oversizeTo - body.length, ' ')]);
    } else {
      headers['Content-Length'] = body.length;
    }
    res.writeHead(status, headers);
    if (override.destroy === 'mid-body') {
      res.write(body.subarray(0, body.length >> 1), () => res.socket?.destroy());
      return;
    }
    const chunkSize = override.drip?.chunkSize ?? CHUNK;
    for (let offset = 0; offset < body.length && !res.destroyed; offset += chunkSize) {
      if (override.drip && offset > 0) await sleep(override.drip.intervalMs, undefined, { signal: closing.signal });
      // Respect backpressure, so a client that stops reading is not sent megabytes regardless.
      if (!res.write(body.subarray(offset, offset + chunkSize))) await waitForDrain(res);
    }
    if (!res.destroyed) res.end();
  };

  const server = http.createServer((req, res) => {
    const rel = requestPath(req);
    requests.push(rel);
    const next = () => serve(rel, res);
    // Failures (a throwing handler, close() aborting a delay) end the connection, not the process.
    Promise.resolve()
      .then(() => (handler ? handler(req, res, next) : next()))
      .catch(() => res.socket?.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}${prefix ? `/${prefix.slice(0, -1)}` : ''}`,
    port,
    requests,
    override(matcher, override) {
      const entry = { matcher, override: { ...override } };
      overrides.push(entry);
      return () => {
        overrides = overrides.filter((e) => e !== entry);
      };
    },
    clearOverrides() {
      overrides = [];
    },
    setHandler(h) {
      handler = h;
    },
    setSource(s) {
      source = s;
    },
    async close() {
      closing.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** The request's path in PathMatcher form; left encoded if it is not valid percent-encoding. */
function requestPath(req: http.IncomingMessage): string {
  // Not `new URL()`: it would read a path starting with `//` as a host.
  const pathname = (req.url ?? '/').split(/[?#]/)[0].replace(/^\/+/, '');
  try {
    return decodeURIComponent(pathname);
  } catch {
    return pathname; // malformed escapes: served as a literal (missing) path
  }
}

async function lookup(source: UpstreamSource, rel: string): Promise<Buffer | undefined> {
  if (typeof source === 'string') {
    const file = path.resolve(source, rel);
    if (!file.startsWith(path.resolve(source) + path.sep)) return undefined;
    return fs.readFile(file).catch(() => undefined);
  }
  return (typeof source === 'function' ? source() : source).get(rel);
}

function waitForDrain(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done).off('close', done);
      resolve();
    };
    res.on('drain', done).on('close', done);
  });
}
