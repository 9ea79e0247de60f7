import * as fs from 'node:fs';
import * as path from 'node:path';
import { Router, type Response } from 'express';
import { isSignedHere } from '../../config/config';
import type { SyncErrorCode } from '../../sync/errors';
import { SyncError } from '../../sync/errors';
import { importArchive, importReport, spoolToFile, type Spooled } from '../../sync/import';
import { configuredSyncOptions } from '../../sync/sync';
import type { AppDeps } from '../app';
import { requireAdmin } from '../auth';
import { repositoryOf, resolveRepository } from './repository';

/** HTTP status of a failed import: the archive's fault (400, 413, 422), or ours (409, 500, 503). */
function statusOf(code: SyncErrorCode): number {
  switch (code) {
    case 'ARCHIVE_INVALID':
      return 400; // not a tar.gz, or not one we accept
    case 'RESPONSE_TOO_LARGE':
      return 413;
    case 'SYNC_IN_PROGRESS':
      return 409;
    case 'CANCELLED':
      return 503;
    case 'INTERNAL':
    case 'TRUST_ANCHOR_INVALID': // this mirror's configuration, not the archive
      return 500;
    default:
      return 422; // the archive failed verification (or its manifest check)
  }
}

function tooLarge(res: Response, max: number): void {
  // The rest of the body is not read: close the connection rather than drain it.
  res.setHeader('Connection', 'close');
  res.status(413).json({ outcome: 'failed', error: { code: 'RESPONSE_TOO_LARGE', role: null, message: `the archive is more than the ${max} bytes allowed (import.maxBytes)` } });
}

/**
 * `POST /api/v1/repositories/<name>/import` (admin): the body is an export archive, streamed to
 * a temporary file (at most import.maxBytes), then verified exactly as a sync from an upstream
 * (sync/import.ts). Answers the outcome as `tuf-mirror import --json` prints it; a new generation
 * is served as soon as the answer is sent. `?allowExpired=true` is `--allow-expired`.
 */
export function importRouter({ config, store, index, logger, watcher }: AppDeps): Router {
  const router = Router();
  router.post('/repositories/:name/import', requireAdmin(config.adminToken), resolveRepository(config), async (req, res) => {
    const repository = repositoryOf(res);
    if (isSignedHere(repository)) {
      // An origin or a bridge is signed here: its generations come from its own keys, never from an archive.
      res.status(409).json({ error: { code: 'NOT_A_MIRROR', message: `${repository.name} is an ${repository.kind} repository: archives are imported into mirrors only` } });
      return;
    }
    const max = config.import.maxBytes;
    if (Number(req.headers['content-length']) > max) {
      tooLarge(res, max);
      return;
    }

    let spooled: Spooled;
    try {
      spooled = await spoolToFile(req, path.join(store.dataDir, 'tmp'), max);
    } catch (err) {
      if (err instanceof SyncError && err.code === 'RESPONSE_TOO_LARGE') tooLarge(res, max);
      else if (!res.headersSent && !req.destroyed) res.status(400).json({ outcome: 'failed', error: { code: 'ARCHIVE_INVALID', role: null, message: `upload failed: ${(err as Error).message}` } });
      return;
    }
    try {
      const result = await importArchive({
        store,
        repository,
        logger,
        ...configuredSyncOptions(config),
        file: spooled.file,
        label: `upload from ${req.ip ?? 'unknown'}`,
        name: 'upload',
        sha256: spooled.sha256,
        maxBytes: max,
        allowExpired: req.query.allowExpired === 'true' || req.query.allowExpired === '1',
      });
      // Serve the new generation before answering: a client told "updated" must get it.
      for (const name of index.reload()) logger.info({ repository: name, generation: index.generationOf(name) }, 'now serving generation');
      watcher.watch(repository);
      const report = importReport(repository.name, result, index.generationOf(repository.name) ?? null);
      res.status(result.outcome === 'failed' ? statusOf(result.error.code) : 200).json(report);
    } finally {
      fs.rmSync(spooled.file, { force: true });
    }
  });
  return router;
}
