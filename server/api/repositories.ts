import { Router } from 'express';
import { allStatuses, repositoryStatus } from '../../watch/status';
import type { AppDeps } from '../app';

/** `GET /api/v1/repositories[/<name>]`: what each repository holds and how its syncs went. */
export function repositoriesRouter({ config, store }: AppDeps): Router {
  const router = Router();
  router.get('/repositories', (_req, res) => {
    res.json({ repositories: allStatuses(store, config) });
  });
  router.get('/repositories/:name', (req, res) => {
    const repository = config.repositories.find((r) => r.name === req.params.name);
    if (!repository) {
      res.status(404).json({ error: { code: 'NOT_FOUND', message: `no repository named ${req.params.name}` } });
      return;
    }
    res.json(repositoryStatus(store, repository));
  });
  return router;
}
