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
};

const TOP_LEVEL = new Set(['root', 'timestamp', 'snapshot', 'targets']);

/** Repository override, else alerts.thresholds, else the default; delegated roles fall back to `delegated`. */
export function thresholdsFor(config: Pick<Config, 'alerts'>, repository: Pick<RepositoryConfig, 'thresholds'>): (name: string) => Threshold {
  return (name) => {
    const family = TOP_LEVEL.has(name) || name === 'trustedRoot' || name === 'sync' ? name : 'delegated';
    return (
      repository.thresholds?.[name] ??
      config.alerts.thresholds[name] ??
      repository.thresholds?.[family] ??
      config.alerts.thresholds[family] ??
      DEFAULT_THRESHOLDS[family]
    );
  };
}
