import { unsafePathReason } from '../lib/layout';
import { SyncError } from './errors';
import type { Source } from './source';

/**
 * Every download of a sync goes through here: it counts requests and bytes for the run's record,
 * names the role a failure is about, and refuses a path that is not a plain relative one before
 * any source sees it (names are checked earlier; this is the backstop).
 */
export class Downloader {
  requests = 0;
  bytes = 0;

  constructor(
    private readonly source: Source,
    private readonly signal?: AbortSignal,
  ) {}

  /** The bytes of `path` in the upstream layout, at most `maxBytes`; failures are SyncErrors about `role`. */
  async get(path: string, maxBytes: number, role: string): Promise<Buffer> {
    const unsafe = unsafePathReason(path);
    if (unsafe) throw new SyncError('UNSAFE_PATH', `refusing to request "${path}": ${unsafe}`, role);
    this.requests++;
    try {
      const bytes = await this.source.get(path, { maxBytes, signal: this.signal });
      this.bytes += bytes.length;
      return bytes;
    } catch (err) {
      if (err instanceof SyncError) throw err.role ? err : err.about(role);
      throw new SyncError('INTERNAL', `${this.source.description}/${path}: ${err instanceof Error ? err.message : String(err)}`, role, { cause: err });
    }
  }
}
