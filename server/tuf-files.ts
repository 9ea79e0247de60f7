import type { IncomingMessage, ServerResponse } from 'node:http';
import { SERVICE_ROUTES } from '../lib/routes';
import type { FileIndex } from './file-index';


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

  const segments: string[] = [];
  for (const seg of rawSegments) {
    if (/%(2f|5c|00)/i.test(seg) || seg.includes('\\')) return { kind: 'bad', reason: 'encoded slash, backslash or NUL in path' };
    let decoded: string;
    try {
      decoded = decodeURIComponent(seg);
    } catch {
      return { kind: 'bad', reason: 'malformed percent-encoding' };
    }
    if (decoded === '' || decoded === '.' || decoded === '..' || decoded.includes('\0')) {
      return { kind: 'bad', reason: 'empty, . or .. segment in path' };
    }
    segments.push(decoded);
  }

  if (index.hasRepository(segments[0]) && segments.length > 1) {
    return { kind: 'file', repository: segments[0], path: segments.slice(1).join('/') };
  }
  if (index.defaultRepository && !index.hasRepository(segments[0])) {
    return { kind: 'file', repository: index.defaultRepository, path: segments.join('/') };
  }
  return { kind: 'unknown' };
}

export type FileServedHook = (repository: string, status: number, started: bigint) => void;

/**
 * The hot path: GET/HEAD of a TUF file straight from memory, before express is involved.
 * Returns false when the request is not for a TUF file.
 */
export function handleFileRequest(req: IncomingMessage, res: ServerResponse, index: FileIndex, onServed?: FileServedHook): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const parsed = parseFileRequest(req.url ?? '/', index);
  if (parsed.kind === 'service') return false;
  const started = process.hrtime.bigint();
  const done = (repository: string, status: number): void => onServed?.(repository, status, started);

  if (parsed.kind === 'bad') {
    plain(res, 400, `bad request: ${parsed.reason}\n`);
    done('', 400);
    return true;
  }
  if (parsed.kind === 'unknown') {
    plain(res, 404, 'not found\n');
    done('', 404);
    return true;
  }
  if (index.generationOf(parsed.repository) === undefined) {
    res.setHeader('Retry-After', '30');
    plain(res, 503, `repository ${parsed.repository} holds no verified generation yet\n`);
    done(parsed.repository, 503);
    return true;
  }
  const file = index.lookup(parsed.repository, parsed.path);
  if (!file) {
    plain(res, 404, 'not found\n');
    done(parsed.repository, 404);
    return true;
  }

  res.setHeader('ETag', file.etag);
  res.setHeader('Cache-Control', file.cacheControl);
  res.setHeader('X-TUF-Mirror-Generation', String(file.generationId));
  if (matchesEtag(req.headers['if-none-match'], file.etag)) {
    res.statusCode = 304;
    res.end();
    done(parsed.repository, 304);
    return true;
  }
  res.statusCode = 200;
  res.setHeader('Content-Type', file.contentType);
  res.setHeader('Content-Length', file.body.length);
  res.end(req.method === 'HEAD' ? undefined : file.body);
  done(parsed.repository, 200);
  return true;
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.setHeader('Cache-Control', 'no-store');
  res.end(text);
}
