import express, { type NextFunction, type Request, type Response } from 'express';
import type { Config } from '../config/config';
import type { Logger } from '../lib/log';
import type { Store } from '../store/store';
import { repositoriesRouter } from './api/repositories';
import type { FileIndex } from './file-index';

export type AppDeps = { config: Config; store: Store; index: FileIndex; logger: Logger };

/** Everything but the TUF files: health, readiness and the JSON API. Thin: it only asks. */
export function createApp(deps: AppDeps): express.Express {
  const { config, index, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', (_req, res) => {
    const generations = Object.fromEntries(config.repositories.map((r) => [r.name, index.generationOf(r.name) ?? null]));
    const ready = Object.values(generations).every((g) => g !== null);
    res.status(ready ? 200 : 503).json({ ready, generations });
  });

  // One router per concern under /api/v1; each file says what it answers.
  app.use('/api/v1', repositoriesRouter(deps));

  app.get('/', (_req, res) => {
    res.json({
      service: 'tuf-mirror',
      repositories: config.repositories.map((r) => ({ name: r.name, default: r.default, path: `/${r.name}/` })),
      api: '/api/v1/repositories',
    });
  });

  app.use('/api', (_req, res) => {
    res.status(404).json({ error: { code: 'NOT_FOUND', message: 'no such API endpoint' } });
  });

  app.use((_req, res) => {
    res.status(404).type('text/plain').send('not found\n');
  });

  // express 5 passes rejected promises here too. Never leak a stack to a client.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    logger.error({ err, path: req.path }, 'request failed');
    if (!res.headersSent) res.status(500).json({ error: { code: 'INTERNAL', message: 'internal error' } });
  });
  return app;
}
