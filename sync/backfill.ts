import type { RepositoryConfig } from '../config/config';
import type { Logger } from '../lib/log';
import type { Store, TargetRecord } from '../store/store';
import { Downloader } from './fetcher';
import { MapSource } from './source';
import { EARLIEST_DATE } from './tuf-client';
import { walkRepository } from './walk';

/**
 * Generations committed before target resolutions were recorded hold no answer for
 * store.resolvedTarget, the only way the verifier, the watch and the trust-root outputs read a
 * target. This derives it for the repository's current generation from the generation's own
 * files, walked as a sync walks an upstream (from the held roots; expiry judged at the time it
 * was committed, when it was verified): nothing new is trusted, and nothing is downloaded.
 * `runId`: the sync run it happens in (what it reads from the store is leased to it).
 */
export async function backfillResolvedTargets(store: Store, repository: Pick<RepositoryConfig, 'name' | 'trustAnchor'>, runId: number, logger: Logger): Promise<void> {
  const generation = store.currentGeneration(repository.name);
  if (!generation || generation.summary.resolvedTargets !== undefined) return;
  const files = store.generationContents(generation);
  try {
    const walked = await walkRepository({
      store,
      repository,
      downloader: new Downloader(new MapSource(files, `generation ${generation.id}`)),
      referenceTime: generation.summary.expiredMetadataAccepted ? EARLIEST_DATE : new Date(generation.createdAt),
      maxTargetBytes: Number.MAX_SAFE_INTEGER,
      maxDelegatedRoles: 1024,
      runId,
      downloadConcurrency: 1,
      shortcuts: false,
    });
    if (walked.kind !== 'walked' || !('blocks' in walked.body)) return;
    const targets: TargetRecord[] = walked.body.blocks.flatMap((b) => ('id' in b ? store.blockTargets(b.id) : b.targets));
    if (store.recordResolvedTargets(generation.id, targets)) {
      logger.info({ repository: repository.name, generation: generation.id, targets: targets.length }, 'recorded the target resolutions of a generation committed before they were recorded');
    }
  } catch (err) {
    logger.warn(
      { repository: repository.name, generation: generation.id, err: err instanceof Error ? err.message : String(err) },
      'could not derive the target resolutions of the served generation; the next successful sync records them',
    );
  }
}
