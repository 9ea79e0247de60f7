/**
 * Target files for a sync: each one reused when the store already holds it (checked against
 * every hash its role signed), else downloaded, a bounded number at a time, checked, and written
 * to the store as soon as it is checked, a batch at a time. Memory holds the files being
 * downloaded and one batch, never the repository; every blob written is leased to the run, so no
 * prune collects it before the run commits.
 */
import { checkFile } from '../lib/hashes';
import { targetPath } from '../lib/layout';
import { ownValue } from '../lib/records';
import type { Store, TargetRecord } from '../store/store';
import type { SignedTarget } from './blocks';
import { isTransportFailure, SyncError } from './errors';
import type { Downloader } from './fetcher';
import type { HeldGeneration } from './held';

export type TargetFilesOptions = {
  store: Store;
  /** The run the blobs are leased to. */
  runId: number;
  downloader: Downloader;
  held: HeldGeneration;
  consistentSnapshot: boolean;
  maxTargetBytes: number;
  /** Downloads at once (sync.downloadConcurrency). */
  concurrency: number;
};

/** A target to fetch; `part` is its bucket (held resolutions of the same bucket are looked at first). */
export type WantedTarget = SignedTarget & { part: string };

export type Fetched<T> = { target: T; sha256: string };

/** Blobs are written this many bytes (or files) at a time: one synced transaction for many small files. */
const BATCH_BYTES = 4 * 1024 * 1024;
const BATCH_FILES = 512;

/**
 * Run `work` over `items`, at most `limit` at once. The first failure stops new work; the ones
 * running are awaited (so none outlives the call), then that failure is thrown.
 */
export async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < items.length) {
      const item = items[next++];
      try {
        await work(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.error;
}

export class TargetFiles {
  private pending = new Map<string, Buffer>();
  private pendingBytes = 0;
  /** Blobs the store held when fetch() started, among those the targets could reuse. */
  private storedBlobs = new Set<string>();
  /** Every blob this run wrote or leased (a generation that does not use one leaves it to prune). */
  readonly touched = new Set<string>();

  constructor(private readonly options: TargetFilesOptions) {}

  /**
   * The file of every target, in parallel. A target whose file fails (not found, wrong length or
   * hash, too large) is returned in `failed` when `mayFail(target)` says it fails alone (a
   * delegated role's target); otherwise, and for any failure of the transport, the call throws.
   * Every blob is in the store (leased) when it returns.
   */
  async fetch<T extends WantedTarget>(targets: readonly T[], mayFail: (target: T) => boolean): Promise<{ fetched: Fetched<T>[]; failed: { target: T; error: SyncError }[] }> {
    const fetched: Fetched<T>[] = [];
    const failed: { target: T; error: SyncError }[] = [];
    // Most files a sync looks for are not held: one query for all tells which might be.
    this.storedBlobs = this.options.store.heldBlobs(targets.flatMap((t) => [...this.candidates(t)]));
    try {
      await forEachLimited(targets, this.options.concurrency, async (target) => {
        try {
          fetched.push({ target, sha256: await this.one(target) });
        } catch (err) {
          if (!(err instanceof SyncError) || isTransportFailure(err) || !mayFail(target)) throw err;
          failed.push({ target, error: err });
        }
      });
    } finally {
      // Even for a run that fails: what was checked is kept (leased), and the next run reuses it.
      this.flush();
    }
    return { fetched, failed };
  }

  /** The sha256 of the target's checked file, which is in the store (or in this run's next batch). */
  private async one(t: WantedTarget): Promise<string> {
    const { store, runId, held } = this.options;
    // The held resolution of this name with the same length and hashes: its bytes were checked
    // against every one of them when stored, and the held generation keeps them.
    const same = held.targetsOf(t.role, t.part).get(t.name);
    if (same && sameFile(same, t)) return same.sha256;
    // Bytes held under one of its hashes (maybe only for another repository, or for an older
    // generation): leased first, so that no prune takes them away, then checked against every hash.
    for (const sha of this.candidates(t)) {
      const bytes = this.pending.get(sha) ?? (this.storedBlobs.has(sha) && store.leaseBlob(runId, sha) ? store.blob(sha) : undefined);
      if (!bytes) continue;
      this.touched.add(sha);
      const checked = checkFile(bytes, t);
      if ('sha256' in checked) return checked.sha256;
    }
    return this.download(t);
  }

  private candidates(t: WantedTarget): Set<string> {
    const shas = new Set<string>();
    // Signed metadata may list no sha256 (only sha512, say).
    const signedSha256 = ownValue(t.hashes, 'sha256');
    if (signedSha256 !== undefined) shas.add(signedSha256);
    if (this.options.held.generation) {
      for (const h of Object.values(t.hashes)) {
        const sha = this.options.held.sha(targetPath(t.name, h));
        if (sha !== undefined) shas.add(sha);
      }
    }
    return shas;
  }

  private async download(t: WantedTarget): Promise<string> {
    const role = `targets/${t.name}`;
    const { maxTargetBytes, consistentSnapshot, downloader } = this.options;
    if (t.length > maxTargetBytes) throw new SyncError('RESPONSE_TOO_LARGE', `${t.name} is ${t.length} bytes, over the ${maxTargetBytes} allowed`, role);
    // tuf-js names the file after the first listed hash; every copy is checked against all of them.
    const path = consistentSnapshot ? targetPath(t.name, Object.values(t.hashes)[0]) : targetPath(t.name);
    const bytes = await downloader.get(path, t.length, role);
    const checked = checkFile(bytes, t);
    if ('mismatch' in checked) throw new SyncError('LENGTH_OR_HASH_MISMATCH', `${path}: ${checked.mismatch}`, role);
    this.add(checked.sha256, bytes);
    return checked.sha256;
  }

  private add(sha256: string, bytes: Buffer): void {
    this.touched.add(sha256);
    if (this.pending.has(sha256)) return;
    this.pending.set(sha256, bytes);
    this.pendingBytes += bytes.length;
    if (this.pendingBytes >= BATCH_BYTES || this.pending.size >= BATCH_FILES) this.flush();
  }

  /** Write the batch (synchronously: no download interleaves with it). */
  private flush(): void {
    if (!this.pending.size) return;
    this.options.store.putBlobs(
      this.options.runId,
      [...this.pending].map(([sha256, bytes]) => ({ sha256, bytes })),
    );
    this.pending = new Map();
    this.pendingBytes = 0;
  }
}

/** The same signed file: length and every hash, in any order. */
export function sameFile(held: TargetRecord, t: SignedTarget): boolean {
  if (held.length !== t.length) return false;
  const a = Object.entries(held.hashes);
  return a.length === Object.keys(t.hashes).length && a.every(([algorithm, value]) => t.hashes[algorithm] === value);
}
