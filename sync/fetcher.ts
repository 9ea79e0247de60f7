import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Fetcher } from 'tuf-js';
import { DownloadHTTPError } from 'tuf-js/dist/error';
import { SyncError } from './errors';
import type { Source } from './source';

/** tuf-js builds URLs from this base; the fetcher maps them back to paths of the source. */
export const SOURCE_BASE_URL = 'https://source.tuf-mirror.invalid';

/**
 * The fetcher injected into tuf-js's Updater. It reads through a Source and remembers the exact
 * bytes of every file it handed over, so that what the Updater accepts can be stored byte for
 * byte. Being recorded here means only "was downloaded"; the sync decides what was verified.
 */
export class RecordingFetcher implements Fetcher {
  readonly fetched = new Map<string, Buffer>();
  requests = 0;
  bytes = 0;
  /** The first transport failure, with its precise code: tuf-js rewraps some errors as text. */
  failure?: SyncError;
  /** The path of the latest request: the role a verification failure is about. */
  lastPath?: string;

  constructor(
    private readonly source: Source,
    private readonly signal?: AbortSignal,
    private readonly onFile?: (path: string, bytes: number) => void,
  ) {}

  /** `role` names the failure for callers that know better than the path (target files). */
  async downloadBytes(url: string, maxLength: number, role?: string): Promise<Buffer> {
    const rel = relativePath(url);
    this.requests++;
    this.lastPath = rel;
    try {
      const bytes = await this.source.get(rel, { maxBytes: maxLength, signal: this.signal });
      this.bytes += bytes.length;
      this.fetched.set(rel, bytes);
      this.onFile?.(rel, bytes.length);
      return bytes;
    } catch (err) {
      const failure = err instanceof SyncError ? new SyncError(err.code, err.message, role ?? roleOf(rel), { cause: err.cause, status: err.status }) : undefined;
      // A 403/404 for the next root is how TUF learns it holds the newest root: not a failure.
      const endOfRootChain = /^\d+\.root\.json$/.test(rel) && (failure?.status === 403 || failure?.status === 404);
      if (!endOfRootChain) this.failure ??= failure;
      // The Updater only ends its root loop on its own DownloadHTTPError class.
      if (failure?.status !== undefined) throw new DownloadHTTPError(failure.message, failure.status);
      throw failure ?? err;
    }
  }

  async downloadFile<T>(url: string, maxLength: number, handler: (file: string) => Promise<T>): Promise<T> {
    const bytes = await this.downloadBytes(url, maxLength);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-mirror-dl-'));
    try {
      const file = path.join(dir, 'download');
      fs.writeFileSync(file, bytes);
      return await handler(file);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** `https://source.tuf-mirror.invalid/8.registry.npmjs.org.json` → `8.registry.npmjs.org.json` */
export function relativePath(url: string): string {
  if (!url.startsWith(SOURCE_BASE_URL + '/')) throw new SyncError('INTERNAL', `unexpected URL ${url}`);
  return url
    .slice(SOURCE_BASE_URL.length + 1)
    .split('/')
    .map(decodeURIComponent)
    .join('/');
}

/** The role a path of the layout belongs to, for error messages. */
export function roleOf(rel: string): string {
  if (rel.startsWith('targets/')) return rel;
  const m = /^(?:\d+\.)?(.+)\.json$/.exec(rel);
  return m ? m[1] : rel;
}
