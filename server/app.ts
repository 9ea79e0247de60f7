import express, { type NextFunction, type Request, type Response } from 'express';
import { allStatuses, type RepositoryStatus } from '../watch/status';
import { worst } from '../watch/evaluate';
import { clusterReportsRouter } from './api/cluster-reports';
import { importRouter } from './api/import';
import { repositoriesRouter } from './api/repositories';
import { trustrootRouter } from './api/trustroot';
import type { AppDeps } from './deps';
import { renderStatusPage } from './status-page';
import { sendRefusal } from './http-errors';

/** Everything but the TUF files: health, readiness and the JSON API. Thin: it only asks. */
export function createApp(deps: AppDeps): express.Express {
  const { config, store, index, logger, watcher, metrics } = deps;
  const statuses = (): RepositoryStatus[] => allStatuses(store, config, (r) => watcher.items(r));
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // Ready while every repository has something to serve, however stale: taking a mirror out of
  // rotation because its upstream is down would only turn a warning into an outage.
  app.get('/readyz', (_req, res) => {
    const generations = Object.fromEntries(config.repositories.map((r) => [r.name, index.generationOf(r.name) ?? null]));
    const ready = Object.values(generations).every((g) => g !== null);
    const state = worst(config.repositories.flatMap((r) => watcher.items(r)));
    res.status(ready ? 200 : 503).json({ ready, degraded: state !== 'ok', state, generations });
  });

  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  // One router per concern under /api/v1; each file says what it answers.
  app.use('/api/v1', repositoriesRouter(deps));
  app.use('/api/v1', trustrootRouter(deps));
  app.use('/api/v1', importRouter(deps));
  app.use('/api/v1', clusterReportsRouter(deps));

  // The status page for a browser; JSON for anything that asks for it.
  app.get('/', (req, res) => {
    const all = statuses();
    if (req.accepts(['html', 'json']) === 'json') {
      res.json({ service: 'tuf-mirror', state: worst(all.flatMap((s) => s.items)), repositories: all, api: '/api/v1/repositories' });
      return;
    }
    const history = Object.fromEntries(config.repositories.map((r) => [r.name, { roots: store.roots(r.name), events: store.events(r.name, 20) }]));
    res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:");
    res.type('html').send(renderStatusPage(all, history, new Date()));
  });

  app.use('/api', (_req, res) => {
    sendRefusal(res, 'NOT_FOUND', 'no such API endpoint');
  });

  app.use((_req, res) => {
    res.status(404).type('text/plain').send('not found\n');
  });

  // express 5 passes rejected promises here too. Never leak a stack to a client.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    // A path the router cannot decode (malformed percent-encoding) is the caller's mistake.
    if (err instanceof URIError) {
      if (!res.headersSent) sendRefusal(res, 'BAD_REQUEST', 'malformed percent-encoding in the path');
      return;
    }
    logger.error({ err, path: req.path }, 'request failed');
    if (!res.headersSent) sendRefusal(res, 'INTERNAL', 'internal error');
  });
  return app;
}
