import type { Config, RepositoryConfig, Threshold } from '../config/config';

const DAY = 86400;

/**
 * Defaults that fit the public-good cadence: the timestamp is re-signed daily with 7 days of
 * validity (Sigstore's own operators alert at 5 days left and page at 4); root lives about six
 * months and needs a ceremony, so it warns a month ahead.
 */
export const DEFAULT_THRESHOLDS: Record<string, Threshold> = {
  root: { warning: 30 * DAY, critical: 7 * DAY },
  timestamp: { warning: 5 * DAY, critical: 2 * DAY },
  snapshot: { warning: 14 * DAY, critical: 3 * DAY },
  targets: { warning: 30 * DAY, critical: 7 * DAY },
  delegated: { warning: 14 * DAY, critical: 3 * DAY },
  trustedRoot: { warning: 30 * DAY, critical: 7 * DAY },
  /** Not time left but time since the last successful sync. */
  sync: { warning: 6 * 3600, critical: DAY },
  /**
   * What refresh-cluster jobs report (the job runs every 10 minutes): time since a cluster's last
   * report, time since it last held what the mirror serves, and time left on what it holds (a
   * mirrorFS TrustRoot lives as long as the timestamp inside: as the timestamp's own thresholds).
   */
  clusterReport: { warning: 3600, critical: 6 * 3600 },
  clusterLag: { warning: 3600, critical: 12 * 3600 },
  clusterExpiry: { warning: 5 * DAY, critical: 2 * DAY },
};

const OWN_FAMILY = new Set(['root', 'timestamp', 'snapshot', 'targets', 'trustedRoot', 'sync', 'clusterReport', 'clusterLag', 'clusterExpiry']);

/** Repository override, else alerts.thresholds, else the default; delegated roles fall back to `delegated`. */
export function thresholdsFor(config: Pick<Config, 'alerts'>, repository: Pick<RepositoryConfig, 'thresholds'>): (name: string) => Threshold {
  return (name) => {
    const family = OWN_FAMILY.has(name) ? name : 'delegated';
    // Names are open-ended (any delegated role's): a configured record holds only some of them.
    const own: Partial<Record<string, Threshold>> = repository.thresholds ?? {};
    const global: Partial<Record<string, Threshold>> = config.alerts.thresholds;
    return own[name] ?? global[name] ?? own[family] ?? global[family] ?? DEFAULT_THRESHOLDS[family];
  };
}
