// What a walk takes and gives, apart from the walk itself, so the walk (walk.ts) and what it
// reuses of the held generation (reuse.ts) both name them without importing each other.
import type { Downloader } from './fetcher';
import type { NewGeneration, Store } from '../store/store';

export type WalkOptions = {
  store: Store;
  repository: { name: string; trustAnchor: string };
  downloader: Downloader;
  /** Expiry is judged at this time (the earliest representable date: nothing is expired). */
  referenceTime: Date;
  maxTargetBytes: number;
  maxDelegatedRoles: number;
  /** The run that blobs written before the commit are leased to. */
  runId: number;
  /** Files downloaded at once (sync.downloadConcurrency). */
  downloadConcurrency: number;
  /**
   * Let what the held generation proves stand (default true). False walks every step, resolves
   * every name again and checks every target file against its hashes (no held block is taken
   * whole): deriving an old generation's resolutions (sync/backfill.ts), and imports with
   * --allow-expired, whose relaxed expiry the held generation was not judged by.
   */
  shortcuts?: boolean;
};

/** A verified generation, not yet committed. */
export type WalkedGeneration = Omit<NewGeneration, 'summary'> & {
  summary: Omit<NewGeneration['summary'], 'expiredMetadataAccepted'>;
  /** The name of the file set of its body (sync.ts compares it with the held one's). */
  fileSetKey: string;
};

export type WalkResult =
  /** The upstream's timestamp is the one held, nothing held went stale: nothing else was read. */
  { kind: 'unchanged' } | ({ kind: 'walked' } & WalkedGeneration);
