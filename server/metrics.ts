import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Config } from '../config/config';
import { inSync } from '../lib/cluster-report';
import type { ClusterOutputRecord, Store } from '../store/store';
import type { Watcher } from '../watch/watcher';
import type { WebhookNotifier } from '../watch/webhooks';

const STATE_VALUE = { ok: 0, warning: 1, critical: 2, expired: 3 } as const;

/**
 * Prometheus metrics. Everything about repositories is read from the store at scrape time, so
 * the figures are right whichever process synced and survive restarts; request counters are
 * this process's own.
 */
export function createMetrics(deps: { config: Config; store: Store; watcher: Watcher; notifier: WebhookNotifier }) {
  const { config, store, watcher, notifier } = deps;
  const registry = new Registry();
  // Node's own metrics keep their names after the prefix: tuf_mirror_process_cpu_seconds_total, tuf_mirror_nodejs_heap_size_used_bytes.
  collectDefaultMetrics({ register: registry, prefix: 'tuf_mirror_' });

  const roleGauge = (name: string, help: string, value: (r: { version: number; expires: string }) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['repository', 'role'],
      registers: [registry],
      collect() {
        this.reset();
        for (const repo of config.repositories) {
          for (const r of store.currentGeneration(repo.name)?.summary.roles ?? []) this.set({ repository: repo.name, role: r.role }, value(r));
        }
      },
    });
  roleGauge('tuf_mirror_role_expires_timestamp_seconds', "The served role's expires, as Unix seconds", (r) => Date.parse(r.expires) / 1000);
  roleGauge('tuf_mirror_role_version', 'Version of the served role', (r) => r.version);

  new Gauge({
    name: 'tuf_mirror_generation',
    help: 'Id of the generation being served (0: none yet)',
    labelNames: ['repository'],
    registers: [registry],
    collect() {
      this.reset();
      for (const repo of config.repositories) this.set({ repository: repo.name }, store.currentGeneration(repo.name)?.id ?? 0);
    },
  });

  const lastRunGauge = (name: string, help: string, outcomes?: ('updated' | 'unchanged' | 'failed')[]) =>
    new Gauge({
      name,
      help,
      labelNames: ['repository'],
      registers: [registry],
      collect() {
        this.reset();
        for (const repo of config.repositories) {
          const run = store.lastSyncRun(repo.name, outcomes);
          const at = run?.finishedAt ?? run?.startedAt;
          if (at) this.set({ repository: repo.name }, Date.parse(at) / 1000);
        }
      },
    });
  lastRunGauge('tuf_mirror_last_sync_success_timestamp_seconds', 'When the last successful sync (updated or unchanged) finished', ['updated', 'unchanged']);
  lastRunGauge('tuf_mirror_last_sync_attempt_timestamp_seconds', 'When the last sync attempt finished (or started, if running)');

  new Counter({
    name: 'tuf_mirror_sync_runs_total',
    help: 'Sync runs by outcome (updated, unchanged, failed), from the store',
    labelNames: ['repository', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of store.syncRunCounts()) this.inc({ repository: r.repository, outcome: r.outcome }, r.runs);
    },
  });

  new Gauge({
    name: 'tuf_mirror_watch_state',
    help: 'State of each watched item: 0 ok, 1 warning, 2 critical, 3 expired',
    labelNames: ['repository', 'item'],
    registers: [registry],
    collect() {
      this.reset();
      for (const repo of config.repositories) for (const i of watcher.items(repo)) this.set({ repository: repo.name, item: i.item }, STATE_VALUE[i.state]);
    },
  });

  new Gauge({
    name: 'tuf_mirror_trusted_root_validity_end_timestamp_seconds',
    help: 'End of the validity of the longest-valid entry of each kind in trusted_root.json (absent: no end)',
    labelNames: ['repository', 'kind'],
    registers: [registry],
    collect() {
      this.reset();
      for (const repo of config.repositories) {
        for (const i of watcher.items(repo)) if (i.kind === 'trusted-root' && i.deadline) this.set({ repository: repo.name, kind: i.name }, Date.parse(i.deadline) / 1000);
      }
    },
  });

  // What refresh-cluster jobs reported: one series per cluster and object they keep fresh.
  const clusterGauge = (name: string, help: string, value: (o: ClusterOutputRecord) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ['repository', 'cluster', 'object'],
      registers: [registry],
      collect() {
        this.reset();
        for (const repo of config.repositories) {
          for (const o of store.clusterOutputs(repo.name)) {
            const v = value(o);
            if (v !== undefined) this.set({ repository: repo.name, cluster: o.cluster, object: o.object }, v);
          }
        }
      },
    });
  clusterGauge('tuf_mirror_cluster_output_report_timestamp_seconds', 'When the last refresh-cluster report about the object arrived', (o) => Date.parse(o.reportedAt) / 1000);
  clusterGauge('tuf_mirror_cluster_output_in_sync', '1 when the last report said the cluster holds what the mirror serves, 0 when it lags', (o) => (inSync(o.report) ? 1 : 0));
  clusterGauge('tuf_mirror_cluster_output_expires_timestamp_seconds', 'When what the cluster holds expires (absent: no expiry of its own)', (o) =>
    o.report.cluster?.expires ? Date.parse(o.report.cluster.expires) / 1000 : undefined,
  );

  new Counter({
    name: 'tuf_mirror_webhook_deliveries_total',
    help: 'Alert webhook deliveries by outcome',
    labelNames: ['webhook', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [webhook, s] of notifier.stats) {
        this.inc({ webhook, outcome: 'delivered' }, s.delivered);
        this.inc({ webhook, outcome: 'failed' }, s.failed);
        this.inc({ webhook, outcome: 'retried' }, s.retried);
      }
    },
  });

  const countAnswer = fileAnswerMetrics(registry);

  return {
    registry,
    /** Hook for the file fast path: counts and times each answer. */
    observeFile: (repository: string, status: number, startedMs: number): void => {
      countAnswer(repository || 'none', status, (performance.now() - startedMs) / 1000);
    },
  };
}

/**
 * The file path's request counter and latency histogram, registered on `registry`; the function
 * returned counts one answer. That path answers tens of thousands of requests a second, and
 * prom-client's labelled inc() and observe() validate, hash and allocate on every call, which cost
 * more than the rest of an answer: the counts are kept here as plain numbers, and /metrics turns
 * them into the same series, in the same order, that prom-client would have kept.
 */
export function fileAnswerMetrics(registry: Registry): (repository: string, status: number, seconds: number) => void {
  const buckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25];
  const answers = new FileAnswerStats(buckets);
  new Counter({
    name: 'tuf_mirror_http_requests_total',
    help: 'TUF file requests served, by repository and status',
    labelNames: ['repository', 'status'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of answers.statuses) this.inc({ repository: s.repository, status: s.status }, s.count);
    },
  });
  new AnswerLatencyHistogram(answers, {
    name: 'tuf_mirror_http_request_duration_seconds',
    help: 'Time to answer a TUF file request',
    labelNames: ['repository'],
    buckets,
    registers: [registry],
  });
  return (repository, status, seconds) => answers.add(repository, status, seconds);
}

type StatusCount = { repository: string; status: string; count: number };
type RepositoryLatency = { repository: string; buckets: number[]; sum: number; count: number };

/** Counts and latencies of the file path's answers, by repository and status, in the order first seen. */
class FileAnswerStats {
  /** In the order each (repository, status) was first seen. */
  readonly statuses: StatusCount[] = [];
  /** In the order each repository was first seen. */
  readonly latencies: RepositoryLatency[] = [];
  private readonly byRepository = new Map<string, { statuses: Map<number, StatusCount>; latency: RepositoryLatency }>();

  constructor(private readonly upperBounds: readonly number[]) {}

  add(repository: string, status: number, seconds: number): void {
    let entry = this.byRepository.get(repository);
    if (!entry) {
      entry = { statuses: new Map(), latency: { repository, buckets: this.upperBounds.map(() => 0), sum: 0, count: 0 } };
      this.byRepository.set(repository, entry);
      this.latencies.push(entry.latency);
    }
    let counted = entry.statuses.get(status);
    if (!counted) {
      counted = { repository, status: String(status), count: 0 };
      entry.statuses.set(status, counted);
      this.statuses.push(counted);
    }
    counted.count++;
    const latency = entry.latency;
    // As prom-client files it: in the first bucket whose bound is >= the value; above the last, in +Inf only.
    for (let i = 0; i < this.upperBounds.length; i++) {
      if (seconds <= this.upperBounds[i]) {
        latency.buckets[i]++;
        break;
      }
    }
    latency.sum += seconds;
    latency.count++;
  }
}

type HistogramValue = { labels: Record<string, string | number>; sharedLabels: Record<string, string>; value: number; metricName: string; exemplar: null | undefined };

/**
 * The latency histogram as prom-client's Histogram exports it, read from FileAnswerStats: the
 * registry asks getForPromString() for /metrics (get() splays the labels for JSON), so the text
 * is prom-client's own formatting of the same values. test/server.test.ts compares the text with
 * that of prom-client's Counter and Histogram fed the same answers.
 */
class AnswerLatencyHistogram extends Histogram {
  constructor(
    private readonly answers: FileAnswerStats,
    private readonly config: ConstructorParameters<typeof Histogram>[0] & { buckets: number[] },
  ) {
    super(config);
  }

  // Not async: prom-client awaits it inside its own async getMetricsAsString, so a throw still rejects there.
  getForPromString(): Promise<{ name: string; help: string; type: 'histogram'; values: HistogramValue[]; aggregator: 'sum' }> {
    const { name, help, buckets } = this.config;
    const values: HistogramValue[] = [];
    for (const l of this.answers.latencies) {
      const shared = { repository: l.repository };
      let cumulative = 0;
      buckets.forEach((le, i) => {
        cumulative += l.buckets[i];
        values.push({ labels: { le }, sharedLabels: shared, value: cumulative, metricName: `${name}_bucket`, exemplar: null });
      });
      values.push({ labels: { le: '+Inf' }, sharedLabels: shared, value: l.count, metricName: `${name}_bucket`, exemplar: null });
      values.push({ labels: {}, sharedLabels: shared, value: l.sum, metricName: `${name}_sum`, exemplar: undefined });
      values.push({ labels: {}, sharedLabels: shared, value: l.count, metricName: `${name}_count`, exemplar: undefined });
    }
    return Promise.resolve({ name, help, type: 'histogram', values, aggregator: 'sum' });
  }
}

export type Metrics = ReturnType<typeof createMetrics>;
