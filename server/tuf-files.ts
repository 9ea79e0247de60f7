import type { IncomingMessage, ServerResponse } from 'node:http';
import { SERVICE_ROUTES } from '../lib/routes';
import type { FileIndex } from './file-index';

const BACKSLASH_OR_ENCODED = { kind: 'bad', reason: 'encoded slash, backslash or NUL in path' } as const;

export type FileRequest =
  | { kind: 'file'; repository: string; path: string }
  | { kind: 'service' } // not a TUF file: the express app answers
  | { kind: 'bad'; reason: string }
  | { kind: 'unknown' };

/**
 * Map a request URL to a repository and a path of its layout, refusing anything that could
 * mean something else: encoded slashes or backslashes, NUL, `.`/`..` or empty segments.
 * Nothing here touches a filesystem; this only keeps the answer honest (400, not a 404 that
 * hides a probe).
 */
export function parseFileRequest(url: string, index: FileIndex): FileRequest {
  const q = url.indexOf('?');
  const raw = q < 0 ? url : url.slice(0, q);
  if (!raw.startsWith('/')) return { kind: 'bad', reason: 'path must be absolute' };
  const rawSegments = raw.slice(1).split('/');
  const first = rawSegments[0];
  if ((first === '' && rawSegments.length === 1) || SERVICE_ROUTES.has(first)) return { kind: 'service' };

  // Most paths hold no escape at all (the serve path's hot case): nothing to decode, and the
  // path is a slice of the URL.
  const escaped = raw.includes('%');
  const segments: string[] = escaped ? [] : rawSegments;
  for (const seg of rawSegments) {
    if (seg.includes('\\')) return BACKSLASH_OR_ENCODED;
    let decoded = seg;
    if (escaped) {
      if (/%(2f|5c|00)/i.test(seg)) return BACKSLASH_OR_ENCODED;
      try {
        decoded = decodeURIComponent(seg);
      } catch {
        return { kind: 'bad', reason: 'malformed percent-encoding' };
      }
      segments.push(decoded);
    }
    if (decoded === '' || decoded === '.' || decoded === '..' || decoded.includes('\0')) {
      return { kind: 'bad', reason: 'empty, . or .. segment in path' };
    }
  }

  if (index.hasRepository(segments[0]) && segments.length > 1) {
    return { kind: 'file', repository: segments[0], path: escaped ? segments.slice(1).join('/') : raw.slice(first.length + 2) };
  }
  if (index.defaultRepository && !index.hasRepository(segments[0])) {
    return { kind: 'file', repository: index.defaultRepository, path: escaped ? segments.join('/') : raw.slice(1) };
  }
  return { kind: 'unknown' };
}

/** Called once per answer of the file path; `startedMs` is the `performance.now()` the answer started at. */
export type FileServedHook = (repository: string, status: number, startedMs: number) => void;

/**
 * The hot path: GET/HEAD of a TUF file straight from memory, before express is involved.
 * Returns false when the request is not for a TUF file.
 */
export function handleFileRequest(req: IncomingMessage, res: ServerResponse, index: FileIndex, onServed?: FileServedHook): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const parsed = parseFileRequest(req.url ?? '/', index);
  if (parsed.kind === 'service') return false;
  const started = performance.now();
  const status = answer(req, res, index, parsed);
  onServed?.(parsed.kind === 'file' ? parsed.repository : '', status, started);
  return true;
}

/**
 * Each answer's headers go to writeHead in one array, in the order the tests and clients have
 * always seen them (no setHeader: it lowercases and stores each name for nothing here).
 */
function answer(req: IncomingMessage, res: ServerResponse, index: FileIndex, parsed: Exclude<FileRequest, { kind: 'service' }>): number {
  if (parsed.kind === 'bad') return plain(res, 400, `bad request: ${parsed.reason}\n`);
  if (parsed.kind === 'unknown') return notFound(res);
  const generation = index.generationHeaderOf(parsed.repository);
  if (generation === undefined) return plain(res, 503, `repository ${parsed.repository} holds no verified generation yet\n`, ['Retry-After', '30']);
  const file = index.held(parsed.repository, parsed.path);
  if (!file) return notFound(res);

  const headers = ['ETag', file.etag, 'Cache-Control', file.cacheControl, 'X-TUF-Mirror-Generation', generation];
  if (matchesEtag(ifNoneMatch(req), file.etag)) {
    res.writeHead(304, headers).end();
    return 304;
  }
  headers.push('Content-Type', file.contentType, 'Content-Length', file.contentLength);
  res.writeHead(200, headers).end(req.method === 'HEAD' ? undefined : file.body);
  return 200;
}

/**
 * If-None-Match as req.headers would give it (several joined with ", "), read from the raw list:
 * req.headers builds an object of every header on first use, for this one.
 */
function ifNoneMatch(req: IncomingMessage): string | undefined {
  let value: string | undefined;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 13 && raw[i].toLowerCase() === 'if-none-match') value = value === undefined ? raw[i + 1] : `${value}, ${raw[i + 1]}`;
  }
  return value;
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

/** A short text answer (a string, so that Node writes it in one piece with the headers). */
function plain(res: ServerResponse, status: number, text: string, first: string[] = []): number {
  res.writeHead(status, [...first, ...textHeaders(String(Buffer.byteLength(text)))]).end(text);
  return status;
}

const textHeaders = (length: string): string[] => ['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', length, 'Cache-Control', 'no-store'];

const NOT_FOUND = 'not found\n';
const NOT_FOUND_HEADERS = textHeaders(String(NOT_FOUND.length));

function notFound(res: ServerResponse): number {
  res.writeHead(404, NOT_FOUND_HEADERS).end(NOT_FOUND);
  return 404;
}
