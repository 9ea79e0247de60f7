import type { Config } from '../config/config';
import { redactUrl, redactUrlsIn, type Logger } from '../lib/log';
import { packageVersion } from '../lib/paths';
import { splitCredentials } from '../lib/url';
import type { ItemState } from './evaluate';

/** What one notification says: a state change, a rotation, or a trust material change. */
export type Alert = {
  kind: 'state-change' | 'root-rotation' | 'trusted-root-change';
  repository: string;
  /** `role:timestamp`, `trusted-root:tlogs`, `sync`, `root` … */
  item: string;
  state: ItemState | 'resolved' | 'changed';
  previousState: string | null;
  severity: 'info' | 'warning' | 'critical';
  message: string;
  at: string;
  deadline?: string | null;
  data?: Record<string, unknown>;
};

type Webhook = Config['alerts']['webhooks'][number];
export type DeliveryStats = { delivered: number; failed: number; retried: number; dropped: number };

const ALERTNAMES: Record<string, string> = {
  role: 'TufMirrorRoleExpiry',
  'trusted-root': 'TufMirrorTrustedRootValidity',
  sync: 'TufMirrorSyncStale',
  'root-rotation': 'TufMirrorRootRotation',
  'trusted-root-change': 'TufMirrorTrustedRootChanged',
};

/** The body each format expects. */
export function webhookBody(format: Webhook['format'], alert: Alert): unknown {
  if (format === 'generic') return { source: 'tuf-mirror', version: packageVersion(), ...alert };
  // Alertmanager's POST /api/v2/alerts. We notify once per change rather than re-sending while
  // firing, so a firing alert carries an endsAt far ahead and a resolution ends it now.
  const family = alert.kind === 'state-change' ? alert.item.split(':')[0] : alert.kind;
  const firing = alert.state !== 'resolved';
  const startsAt = alert.at;
  const endsAt = firing ? new Date(Date.parse(alert.at) + 30 * 86400_000).toISOString() : alert.at;
  return [
    {
      labels: {
        alertname: ALERTNAMES[family] ?? 'TufMirror',
        repository: alert.repository,
        item: alert.item,
        severity: alert.severity,
        ...(alert.kind === 'state-change' && alert.item.startsWith('role:') ? { role: alert.item.slice(5) } : {}),
      },
      annotations: { summary: `${alert.repository}: ${alert.message}`, description: `${alert.kind} ${alert.item}: ${alert.previousState ?? 'new'} → ${alert.state}` },
      startsAt,
      endsAt,
    },
  ];
}

/**
 * Delivers alerts to every configured webhook in the background: queued, retried with
 * exponential backoff, failures logged and counted. send() never waits for a receiver, so a
 * slow or dead receiver cannot hold up syncs or serving.
 */
export class WebhookNotifier {
  readonly stats = new Map<string, DeliveryStats>();
  private readonly pending = new Set<Promise<void>>();
  private stopped = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly webhooks: Webhook[],
    private readonly logger: Logger,
    private readonly options: { attempts?: number; backoffMs?: number; timeoutMs?: number } = {},
  ) {
    for (const w of webhooks) this.stats.set(redactUrl(w.url), { delivered: 0, failed: 0, retried: 0, dropped: 0 });
  }

  send(alert: Alert): void {
    if (this.stopped) return;
    for (const webhook of this.webhooks) {
      const p = this.deliver(webhook, alert).finally(() => this.pending.delete(p));
      this.pending.add(p);
    }
  }

  /** Wait for deliveries in flight (tests, shutdown); gives up on retries not yet due. */
  async drain(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private async deliver(webhook: Webhook, alert: Alert): Promise<void> {
    const attempts = this.options.attempts ?? 5;
    const backoff = this.options.backoffMs ?? 2000;
    const target = redactUrl(webhook.url);
    const { url, authorization } = splitCredentials(webhook.url);
    const stats = this.stats.get(target)!;
    const body = JSON.stringify(webhookBody(webhook.format, alert));
    for (let attempt = 1; attempt <= attempts && !this.stopped; attempt++) {
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': `tuf-mirror/${packageVersion()}`, ...(authorization ? { authorization } : {}), ...webhook.headers },
          body,
          signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
        });
        await res.body?.cancel().catch(() => undefined);
        if (res.ok) {
          stats.delivered++;
          this.logger.info({ webhook: target, kind: alert.kind, item: alert.item, state: alert.state }, 'alert delivered');
          return;
        }
        throw new Error(`HTTP ${res.status}`);
      } catch (err) {
        const last = attempt === attempts;
        this.logger.warn({ webhook: target, item: alert.item, attempt, err: redactUrlsIn((err as Error).message) }, last ? 'alert delivery failed; giving up' : 'alert delivery failed; will retry');
        if (last) {
          stats.failed++;
          return;
        }
        stats.retried++;
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            this.timers.delete(t);
            resolve();
          }, backoff * 2 ** (attempt - 1));
          t.unref();
          this.timers.add(t);
        });
      }
    }
    if (this.stopped) stats.dropped++;
  }
}

