import express, { Router } from 'express';
import { clusterReportSchema } from '../../lib/cluster-report';
import type { AppDeps } from '../app';
import { requireBearer } from '../auth';

/**
 * `/api/v1/repositories/<name>/cluster-reports`: what each cluster's `tuf-mirror refresh-cluster`
 * job says it holds. POST (the job, with the report token) records a report; GET (public, like
 * the status page) lists the latest per object with the watch's judgement of it.
 */
export function clusterReportsRouter({ config, store, watcher }: Pick<AppDeps, 'config' | 'store' | 'watcher'>): Router {
  const router = Router();
  const repositoryOf = (name: string) => config.repositories.find((r) => r.name === name);

  router.post(
    '/repositories/:name/cluster-reports',
    requireBearer(config.reportToken, {
      code: 'REPORTS_DISABLED',
      message: 'cluster reports are disabled: set reportToken or TUF_MIRROR_REPORT_TOKEN, and give the refresh-cluster job the same token',
    }),
    express.json({ limit: '256kb' }),
    (req, res) => {
      const repository = repositoryOf(String(req.params.name));
      if (!repository) {
        res.status(404).json({ error: { code: 'NOT_FOUND', message: `no repository named ${req.params.name}` } });
        return;
      }
      const parsed = clusterReportSchema.safeParse(req.body);
      if (!parsed.success) {
        const issues = parsed.error.issues.slice(0, 10).map((i) => `${i.path.join('.') || '<report>'}: ${i.message}`);
        res.status(400).json({ error: { code: 'BAD_REPORT', message: issues.join('; ') } });
        return;
      }
      store.recordClusterReport(repository.name, parsed.data);
      // The states move with the report: evaluate (and notify) now rather than at the next tick.
      watcher.evaluate(repository);
      res.status(200).json({ recorded: parsed.data.outputs.length });
    },
  );

  router.get('/repositories/:name/cluster-reports', (req, res) => {
    const repository = repositoryOf(req.params.name);
    if (!repository) {
      res.status(404).json({ error: { code: 'NOT_FOUND', message: `no repository named ${req.params.name}` } });
      return;
    }
    const items = new Map(watcher.items(repository).map((i) => [i.item, i]));
    res.json({
      outputs: store.clusterOutputs(repository.name).map((o) => {
        const item = items.get(`cluster:${o.cluster}/${o.object.replace(' ', '/')}`);
        return { ...o, state: item?.state ?? 'ok', message: item?.message ?? '' };
      }),
    });
  });
  return router;
}
