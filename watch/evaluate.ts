import type { Threshold } from '../config/config';
import type { GenerationRecord } from '../store/store';
import { humanDuration } from './status';
import { isValidAt, TRUST_KINDS, type TrustEntry, type TrustKind } from './trusted-root';

export type ItemState = 'ok' | 'warning' | 'critical' | 'expired';

/** One thing that can expire or go stale, with its state now. */
export type WatchItem = {
  /** Stable key: `role:timestamp`, `trusted-root:tlogs`, `target:<name>`, `sync`. */
  item: string;
  kind: 'role' | 'trusted-root' | 'target' | 'sync';
  name: string;
  state: ItemState;
  /** When it expires (roles, trust material) or goes critical (sync); null if never. */
  deadline: string | null;
  secondsLeft: number | null;
  message: string;
};

export type EvaluationInput = {
  generation: GenerationRecord | undefined;
  trustEntries: TrustEntry[] | undefined;
  lastSuccessAt: string | undefined;
  /** When the repository was first configured: a mirror that never synced is judged from then. */
  createdAt: string | undefined;
  now: Date;
  thresholds: (name: string) => Threshold;
};

const KIND_NAMES: Record<TrustKind, string> = {
  certificateAuthorities: 'certificate authority',
  tlogs: 'transparency log key',
  ctlogs: 'CT log key',
  timestampAuthorities: 'timestamp authority',
};

function byTimeLeft(secondsLeft: number, t: Threshold): ItemState {
  if (secondsLeft <= 0) return 'expired';
  if (secondsLeft <= t.critical) return 'critical';
  if (secondsLeft <= t.warning) return 'warning';
  return 'ok';
}

/** Pure: the state of every watched item of one repository at `now`. */
export function evaluateRepository(input: EvaluationInput): WatchItem[] {
  const { generation, now, thresholds } = input;
  const items: WatchItem[] = [];

  for (const role of generation?.summary.roles ?? []) {
    const left = Math.floor((Date.parse(role.expires) - now.getTime()) / 1000);
    const state = byTimeLeft(left, thresholds(role.role));
    // Already expired when it was imported (tuf-mirror import --allow-expired): say so.
    const imported = generation?.summary.expiredMetadataAccepted?.some((r) => r.role === role.role && r.version === role.version) ? ', imported with --allow-expired' : '';
    items.push({
      item: `role:${role.role}`,
      kind: 'role',
      name: role.role,
      state,
      deadline: role.expires,
      secondsLeft: left,
      message:
        state === 'expired'
          ? `${role.role} v${role.version} EXPIRED ${humanDuration(-left)} ago (${role.expires}${imported})`
          : `${role.role} v${role.version} expires in ${humanDuration(left)} (${role.expires})`,
    });
  }

  // A delegated role the last committing run could not mirror: critical, whatever its expiry says
  // (expired if the version still served has expired). Clients that need it fail.
  for (const failed of generation?.summary.failedRoles ?? []) {
    const i = items.findIndex((x) => x.item === `role:${failed.role}`);
    const served = i >= 0 ? items[i] : undefined;
    const still = failed.servedVersion !== null && served ? `; serving v${failed.servedVersion} (${served.state === 'expired' ? 'EXPIRED' : 'expires'} ${served.deadline})` : '; nothing of it is served';
    const item: WatchItem = {
      item: `role:${failed.role}`,
      kind: 'role',
      name: failed.role,
      state: served?.state === 'expired' ? 'expired' : 'critical',
      deadline: served?.deadline ?? null,
      secondsLeft: served?.secondsLeft ?? null,
      message: `${failed.role}: ${failed.code}: ${failed.message}${still}`,
    };
    if (served) items[i] = item;
    else items.push(item);
  }
  for (const refused of generation?.summary.refusedTargets ?? []) {
    items.push({
      item: `target:${refused.name}`,
      kind: 'target',
      name: refused.name,
      state: 'critical',
      deadline: null,
      secondsLeft: null,
      message: `target ${refused.name} (${refused.role}) refused: ${refused.code}: ${refused.message}`,
    });
  }

  // Entries past their end are normal (retired keys stay so old signatures verify); what matters
  // is whether each kind still has one valid now, and for how long.
  for (const kind of TRUST_KINDS) {
    const entries = (input.trustEntries ?? []).filter((e) => e.kind === kind);
    if (entries.length === 0) continue;
    const valid = entries.filter((e) => isValidAt(e, now));
    const openEnded = valid.find((e) => !e.end);
    const best = openEnded ?? valid.sort((a, b) => Date.parse(b.end!) - Date.parse(a.end!))[0];
    const left = best?.end ? Math.floor((Date.parse(best.end) - now.getTime()) / 1000) : null;
    const state: ItemState = !best ? 'expired' : left === null ? 'ok' : byTimeLeft(left, thresholds('trustedRoot'));
    items.push({
      item: `trusted-root:${kind}`,
      kind: 'trusted-root',
      name: kind,
      state,
      deadline: best ? best.end : entries.map((e) => e.end).filter((e): e is string => !!e).sort().at(-1) ?? null,
      secondsLeft: left,
      message: !best
        ? `no ${KIND_NAMES[kind]} in trusted_root.json is valid now`
        : left === null
          ? `${KIND_NAMES[kind]} ${best.url} valid with no end`
          : `the last valid ${KIND_NAMES[kind]} (${best.url}) ends in ${humanDuration(left)} (${best.end})`,
    });
  }

  // Time since the last successful sync (or, before the first, since the repository was set up).
  const t = thresholds('sync');
  const since = input.lastSuccessAt ?? generation?.createdAt ?? input.createdAt ?? now.toISOString();
  const age = Math.floor((now.getTime() - Date.parse(since)) / 1000);
  // Holding nothing is never fine: warning at once, critical once the sync threshold passes.
  const syncState: ItemState = age >= t.critical ? 'critical' : age >= t.warning || !generation ? 'warning' : 'ok';
  items.push({
    item: 'sync',
    kind: 'sync',
    name: 'sync',
    state: syncState,
    deadline: new Date(Date.parse(since) + t.critical * 1000).toISOString(),
    secondsLeft: t.critical - age,
    message: generation
      ? `last successful sync ${humanDuration(age)} ago (${since})`
      : `no sync has succeeded yet (configured ${humanDuration(age)} ago): nothing is served`,
  });
  return items;
}

export const worst = (items: WatchItem[]): ItemState =>
  (['expired', 'critical', 'warning', 'ok'] as ItemState[]).find((s) => items.some((i) => i.state === s)) ?? 'ok';
