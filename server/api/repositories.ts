import express, { Router } from 'express';
import { isSignedHere, type RepositoryConfig } from '../../config/config';
import type { Key } from '@tufjs/models';
import { MetadataError, parseRoot } from '../../lib/tuf-metadata';
import { allStatuses, repositoryStatus } from '../../watch/status';
import type { AppDeps } from '../deps';
import { requireAdmin } from '../auth';
import { httpStatusOf, sendRefusal } from '../http-errors';
import { repositoryOf, resolveRepository } from './repository';

/**
 * `/api/v1/repositories…`: what each repository holds, its events and root history (public),
 * and `POST …/sync` to sync one now (admin).
 */
export function repositoriesRouter({ config, store, watcher, syncNow }: AppDeps): Router {
  const router = Router();
  const itemsOf = (r: RepositoryConfig) => watcher.items(r);

  // Resolves :name or answers 404; handlers below only run for configured repositories.
  const resolve = resolveRepository(config);
  router.param('name', (req, res, next) => resolve(req, res, next));

  router.get('/repositories', (_req, res) => {
    res.json({ repositories: allStatuses(store, config, itemsOf) });
  });

  router.get('/repositories/:name', (_req, res) => {
    const repository = repositoryOf(res);
    res.json(repositoryStatus(store, repository, itemsOf(repository)));
  });

  router.get('/repositories/:name/events', (req, res) => {
    const limit = Math.min(1000, Math.max(1, Number(req.query.limit ?? 100) || 100));
    const kind = typeof req.query.kind === 'string' ? req.query.kind : undefined;
    res.json({ events: store.events(repositoryOf(res).name, limit, kind) });
  });

  // Root history: every root held, when first seen, its expiry, keys and thresholds per role.
  router.get('/repositories/:name/roots', (_req, res) => {
    const roots = store.roots(repositoryOf(res).name).map((r) => {
      const bytes = store.blob(r.sha256);
      if (!bytes) throw new MetadataError(`${r.version}.root.json is not held (blob ${r.sha256} missing)`);
      const root = parseRoot(bytes, `${r.version}.root.json`);
      // A root lists its roles' key ids beside its keys; nothing in the type makes each id one of them.
      const keys: Partial<Record<string, Key>> = root.signed.keys;
      return {
        version: r.version,
        sha256: r.sha256,
        firstSeenAt: r.firstSeenAt,
        expires: r.expires,
        consistentSnapshot: root.signed.consistentSnapshot,
        roles: Object.fromEntries(
          Object.entries(root.signed.roles).map(([role, v]) => [role, { threshold: v.threshold, keyids: v.keyIDs, keytypes: v.keyIDs.map((k) => keys[k]?.keyType ?? 'unknown') }]),
        ),
      };
    });
    res.json({ roots });
  });

  router.post('/repositories/:name/sync', requireAdmin(config.adminToken), express.json({ limit: '1kb' }), async (_req, res) => {
    const repository = repositoryOf(res);
    if (isSignedHere(repository)) {
      sendRefusal(res, 'ORIGIN', `${repository.name} is signed here, not synced: tuf-mirror ${repository.kind ?? 'mirror'} resign ${repository.name}`);
      return;
    }
    const result = await syncNow(repository);
    if (result.outcome !== 'failed') {
      const { roles, failedRoles, refusedTargets } = result.generation.summary;
      res.json({
        outcome: result.outcome,
        runId: result.runId,
        generation: result.generation.id,
        roles,
        ...(failedRoles ? { failedRoles } : {}),
        ...(refusedTargets ? { refusedTargets } : {}),
        requests: result.requests,
        bytes: result.bytes,
      });
      return;
    }
    const { code, role, message } = result.error;
    res.status(httpStatusOf(result.error) ?? 500).json({ outcome: 'failed', runId: result.runId, error: { code, role: role ?? null, message }, requests: result.requests, bytes: result.bytes });
  });
  return router;
}
