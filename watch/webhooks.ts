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
  compatibility: 'TufMirrorCompatibility',
  bridge: 'TufMirrorBridge',
  cluster: 'TufMirrorClusterOutput',
  'root-rotation': 'TufMirrorRootRotation',
  'trusted-root-change': 'TufMirrorTrustedRootChanged',
};

/** The Alertmanager severity a state fires with; none for ok (nothing fires). */
const FIRING_SEVERITY: Partial<Record<string, 'warning' | 'critical'>> = { warning: 'warning', critical: 'critical', expired: 'critical' };
const DAY_MS = 86400_000;

type AlertmanagerAlert = { labels: Record<string, string>; annotations: Record<string, string>; startsAt: string; endsAt: string };

/** The body each format expects. */
export function webhookBody(format: Webhook['format'], alert: Alert): unknown {
  if (format === 'generic') return { source: 'tuf-mirror', version: packageVersion(), ...alert };
  return alertmanagerAlerts(alert);
}

/**
 * Alertmanager's POST /api/v2/alerts. Alertmanager tells alerts apart by their label set, so
 * ending an alert means sending exactly the labels it fired with, severity included: a
 * resolution carries the severity of the state it leaves, and an escalation (warning → critical)
 * ends the warning as it fires the critical. We notify once per change rather than re-sending
 * while firing, so a firing condition carries an endsAt far ahead and its resolution ends it
 * now; an event (a rotation, a trust material change) fires once and ends by itself a day later.
 */
function alertmanagerAlerts(alert: Alert): AlertmanagerAlert[] {
  const family = alert.kind === 'state-change' ? alert.item.split(':')[0] : alert.kind;
  const labels = (severity: string): Record<string, string> => ({
    alertname: ALERTNAMES[family] ?? 'TufMirror',
    repository: alert.repository,
    item: alert.item,
    severity,
    ...(alert.kind === 'state-change' && alert.item.startsWith('role:') ? { role: alert.item.slice(5) } : {}),
  });
  const annotations = { summary: `${alert.repository}: ${alert.message}`, description: `${alert.kind} ${alert.item}: ${alert.previousState ?? 'new'} → ${alert.state}` };
  const at = alert.at;
  const after = (ms: number): string => new Date(Date.parse(at) + ms).toISOString();
  if (alert.kind !== 'state-change') return [{ labels: labels(alert.severity), annotations, startsAt: at, endsAt: after(DAY_MS) }];

  const before = FIRING_SEVERITY[alert.previousState ?? ''];
  const now = FIRING_SEVERITY[alert.state];
  const out: AlertmanagerAlert[] = [];
  if (before && before !== now) out.push({ labels: labels(before), annotations, startsAt: at, endsAt: at });
  if (now) out.push({ labels: labels(now), annotations, startsAt: at, endsAt: after(30 * DAY_MS) });
  return out;
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
    for (const w of webhooks) this.statsOf(redactUrl(w.url));
  }

  /** One counter set per redacted URL (webhooks differing only in credentials share one). */
  private statsOf(target: string): DeliveryStats {
    let stats = this.stats.get(target);
    if (!stats) {
      stats = { delivered: 0, failed: 0, retried: 0, dropped: 0 };
      this.stats.set(target, stats);
    }
    return stats;
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
    const stats = this.statsOf(target);
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
          const t = setTimeout(
            () => {
              this.timers.delete(t);
              resolve();
            },
            backoff * 2 ** (attempt - 1),
          );
          t.unref();
          this.timers.add(t);
        });
      }
    }
    if (this.stopped) stats.dropped++;
  }
}
