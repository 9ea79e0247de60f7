import * as fs from 'node:fs';
import * as path from 'node:path';
import { Router, type Response } from 'express';
import { isSignedHere } from '../../config/config';
import { SyncError } from '../../sync/errors';
import { importArchive, importReport, spoolToFile, type Spooled } from '../../sync/import';
import { configuredSyncOptions } from '../../sync/sync';
import type { AppDeps } from '../deps';
import { requireAdmin } from '../auth';
import { httpStatusOf, sendRefusal } from '../http-errors';
import { repositoryOf, resolveRepository } from './repository';

/** An upload refused before it was verified: answered like an import that failed. */
function refuse(res: Response, err: SyncError): void {
  res.status(httpStatusOf(err, 'request') ?? 500).json({ outcome: 'failed', error: { code: err.code, role: null, message: err.message } });
}

function tooLarge(res: Response, max: number): void {
  // The rest of the body is not read: close the connection rather than drain it.
  res.setHeader('Connection', 'close');
  refuse(res, new SyncError('RESPONSE_TOO_LARGE', `the archive is more than the ${max} bytes allowed (import.maxBytes)`));
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
      sendRefusal(res, 'NOT_A_MIRROR', `${repository.name} is an ${repository.kind ?? 'mirror'} repository: archives are imported into mirrors only`);
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
      else if (!res.headersSent && !req.destroyed) refuse(res, new SyncError('ARCHIVE_INVALID', `upload failed: ${err instanceof Error ? err.message : String(err)}`));
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
      // The archive is the request: its faults are 4xx (too large: 413), ours 409/500/503.
      res.status(result.outcome === 'failed' ? (httpStatusOf(result.error, 'request') ?? 500) : 200).json(report);
    } finally {
      fs.rmSync(spooled.file, { force: true });
    }
  });
  return router;
}
