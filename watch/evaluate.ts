import type { Threshold } from '../config/config';
import type { ConsumerReport, Finding, GateReport } from '../compat/gate';
import { inSync } from '../lib/cluster-report';
import type { BridgeDecision, ClusterOutputRecord, GenerationRecord } from '../store/store';
import { humanDuration } from '../lib/duration';
import { TRUST_KINDS, validAt, type TrustEntry, type TrustKind } from '../lib/trusted-root';

export type ItemState = 'ok' | 'warning' | 'critical' | 'expired';

/** One thing that can expire or go stale, with its state now. */
export type WatchItem = {
  /** Stable key: `role:timestamp`, `trusted-root:tlogs`, `target:<name>`, `sync`, `compatibility`, `bridge`, `cluster:<cluster>/<Kind>/[<namespace>/]<name>`. */
  item: string;
  kind: 'role' | 'trusted-root' | 'target' | 'sync' | 'compatibility' | 'bridge' | 'cluster';
  name: string;
  state: ItemState;
  /** When it expires (roles, trust material) or goes critical (sync); null if never. */
  deadline: string | null;
  secondsLeft: number | null;
  message: string;
  /** What the operator has to do by when, if anything: "carry the next archive by …" in a gap. */
  action?: string;
  /** compatibility and bridge: what the compatibility gate found (blocking ones make it critical). */
  findings?: Finding[];
  /** compatibility and bridge: per consumer, the logs it leaves out. */
  consumers?: ConsumerReport[];
};

export type EvaluationInput = {
  generation: GenerationRecord | undefined;
  trustEntries: TrustEntry[] | undefined;
  lastSuccessAt: string | undefined;
  /** When the repository was first configured: a mirror that never synced is judged from then. */
  createdAt: string | undefined;
  now: Date;
  thresholds: (name: string) => Threshold;
  /** The compatibility gate on the served generation's targets (undefined: not computed). */
  compatibility?: GateReport;
  /** A bridge's latest decision about its source. */
  bridge?: BridgeDecision;
  /** An origin or a bridge: published here, never synced from an upstream. */
  signedHere?: boolean;
  /** The last successful run imported an archive: new data arrives on media, not from an upstream. */
  archiveFed?: boolean;
  /** What refresh-cluster jobs reported about the objects they keep fresh from this repository. */
  clusterOutputs?: ClusterOutputRecord[];
};

const KIND_NAMES: Record<TrustKind, string> = {
  certificateAuthorities: 'certificate authority',
  tlogs: 'transparency log key',
  ctlogs: 'CT log key',
  timestampAuthorities: 'timestamp authority',
};

/** When an entry stops being valid; an open-ended one never does. */
const endTime = (e: TrustEntry): number => (e.end ? Date.parse(e.end) : Infinity);

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
    const action = role.role === 'timestamp' && input.archiveFed ? carryBy(role.expires, thresholds('timestamp')) : undefined;
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
          : `${role.role} v${role.version} expires in ${humanDuration(left)} (${role.expires})${action ? `: ${action}` : ''}`,
      ...(action ? { action } : {}),
    });
  }

  // A delegated role the last committing run could not mirror: critical, whatever its expiry says
  // (expired if the version still served has expired). Clients that need it fail.
  for (const failed of generation?.summary.failedRoles ?? []) {
    const i = items.findIndex((x) => x.item === `role:${failed.role}`);
    const served = i >= 0 ? items[i] : undefined;
    const still =
      failed.servedVersion !== null && served ? `; serving v${failed.servedVersion} (${served.state === 'expired' ? 'EXPIRED' : 'expires'} ${String(served.deadline)})` : '; nothing of it is served';
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
    const valid = entries.filter((e) => validAt(e, now.getTime()));
    const openEnded = valid.find((e) => !e.end);
    // Without an open-ended one, the one that ends last (and none when none is valid).
    const best = openEnded ?? valid.sort((a, b) => endTime(b) - endTime(a)).at(0);
    const left = best?.end ? Math.floor((Date.parse(best.end) - now.getTime()) / 1000) : null;
    const state: ItemState = !best ? 'expired' : left === null ? 'ok' : byTimeLeft(left, thresholds('trustedRoot'));
    items.push({
      item: `trusted-root:${kind}`,
      kind: 'trusted-root',
      name: kind,
      state,
      deadline: best
        ? best.end
        : (entries
            .map((e) => e.end)
            .filter((e): e is string => !!e)
            .sort()
            .at(-1) ?? null),
      secondsLeft: left,
      message: !best
        ? `no ${KIND_NAMES[kind]} in trusted_root.json is valid now`
        : left === null
          ? `${KIND_NAMES[kind]} ${best.url} valid with no end`
          : `the last valid ${KIND_NAMES[kind]} (${best.url}) ends in ${humanDuration(left)} (${String(best.end)})`,
    });
  }

  items.push(...compatibilityItems(input));
  items.push(...(input.clusterOutputs ?? []).map((o) => clusterItem(o, now, thresholds)));

  // Signed here or fed by archives: freshness is the timestamp's deadline, not the time since a
  // sync (an upstream the repository does not have, or cannot reach across the gap).
  const fed = input.signedHere ? 'published here' : input.archiveFed ? 'imported' : undefined;
  if (fed && generation) {
    const since = input.lastSuccessAt ?? generation.createdAt;
    const age = Math.floor((now.getTime() - Date.parse(since)) / 1000);
    items.push({
      item: 'sync',
      kind: 'sync',
      name: 'sync',
      state: 'ok',
      deadline: null,
      secondsLeft: null,
      message: `last ${fed} ${humanDuration(age)} ago (${since}); its timestamp's expiry is the deadline`,
    });
    return items;
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
    message: generation ? `last successful sync ${humanDuration(age)} ago (${since})` : `no sync has succeeded yet (configured ${humanDuration(age)} ago): nothing is served`,
  });
  return items;
}

/** "carry the next archive by <when the timestamp turns critical>": the in-gap operator's deadline. */
function carryBy(expires: string, t: Threshold): string {
  const by = new Date(Date.parse(expires) - t.critical * 1000).toISOString().replace(/\.000Z$/, 'Z');
  return `carry the next archive by ${by} (tuf-mirror export on the connected side, tuf-mirror import here)`;
}

/** The compatibility gate on what is served, and a bridge's decision about its next candidate. */
function compatibilityItems(input: EvaluationInput): WatchItem[] {
  const items: WatchItem[] = [];
  const report = input.compatibility;
  if (report?.applicable) {
    const blocking = report.findings.filter((f) => f.blocking);
    const notices = report.findings.filter((f) => !f.blocking);
    const leftOut = report.consumers.filter((c) => c.leftOut.length).map((c) => `${c.consumer} leaves out ${c.leftOut.join(', ')}`);
    items.push({
      item: 'compatibility',
      kind: 'compatibility',
      name: 'compatibility',
      state: blocking.length ? 'critical' : 'ok',
      deadline: null,
      secondsLeft: null,
      message: blocking.length
        ? `served trust material fails the compatibility gate: ${blocking.map((f) => `${f.code} ${f.message}`).join('; ')}`
        : `served trust material passes the compatibility gate${notices.length ? ` (${notices.length} notice${notices.length > 1 ? 's' : ''}${leftOut.length ? `: ${leftOut.join('; ')}` : ''})` : ''}`,
      findings: report.findings,
      consumers: report.consumers,
    });
  }
  const d = input.bridge;
  if (d) {
    const state: ItemState = d.outcome === 'held' || d.outcome === 'failed' ? 'critical' : d.outcome === 'pending' || d.outcome === 'source-unavailable' ? 'warning' : 'ok';
    items.push({
      item: 'bridge',
      kind: 'bridge',
      name: 'bridge',
      state,
      deadline: null,
      secondsLeft: null,
      message: `${d.outcome}: ${d.message} (checked ${d.at})`,
      findings: d.findings,
      consumers: d.consumers,
    });
  }
  return items;
}

const since = (at: string, now: Date): number => Math.floor((now.getTime() - Date.parse(at)) / 1000);
const bySince = (seconds: number, t: Threshold): ItemState => (seconds >= t.critical ? 'critical' : seconds >= t.warning ? 'warning' : 'ok');

/**
 * One object a cluster keeps fresh, from its refresh-cluster job's reports: the worst of how long
 * since the job reported, how long the cluster has not held what the mirror serves, and how long
 * what it holds stays valid.
 */
function clusterItem(o: ClusterOutputRecord, now: Date, thresholds: (name: string) => Threshold): WatchItem {
  const r = o.report;
  const where = `${o.object} in ${o.cluster}`;
  const quiet = since(o.reportedAt, now);
  const reportState = bySince(quiet, thresholds('clusterReport'));
  const lagging = !inSync(r);
  const lag = lagging ? since(o.inSyncAt ?? o.firstReportedAt, now) : 0;
  const lagState = lagging ? bySince(lag, thresholds('clusterLag')) : 'ok';
  const expires = r.cluster?.expires;
  const left = expires ? Math.floor((Date.parse(expires) - now.getTime()) / 1000) : null;
  const expiryState: ItemState = left === null ? 'ok' : byTimeLeft(left, thresholds('clusterExpiry'));
  const states = [reportState, lagState, expiryState];
  const state = (['expired', 'critical', 'warning'] as const).find((s) => states.includes(s)) ?? 'ok';
  const parts: string[] = [];
  if (expiryState === 'expired') parts.push(`what it holds EXPIRED ${humanDuration(-(left ?? 0))} ago (${String(expires)})`);
  else if (expiryState !== 'ok') parts.push(`what it holds expires in ${humanDuration(left ?? 0)} (${String(expires)})`);
  if (lagState !== 'ok')
    parts.push(`not what the mirror serves for ${humanDuration(lag)}${o.inSyncAt ? ` (in sync last at ${o.inSyncAt})` : ' (never in sync)'}: ${r.outcome}${r.message ? `: ${r.message}` : ''}`);
  if (reportState !== 'ok') parts.push(`no report for ${humanDuration(quiet)} (last ${o.reportedAt}): is its refresh-cluster CronJob running?`);
  const held = r.cluster ? `generation ${r.cluster.generation ?? '?'}'s content${r.cluster.timestampVersion !== undefined ? ` (timestamp v${r.cluster.timestampVersion})` : ''}` : 'nothing';
  const message = parts.length
    ? `${where}: ${parts.join('; ')}`
    : `${where}: holds ${held}, ${lagging ? `${r.outcome}${r.message ? `: ${r.message}` : ''}` : 'as the mirror serves it'}; reported ${humanDuration(quiet)} ago${expires ? `; valid until ${expires}` : ''}`;
  const deadlines = [
    expires,
    new Date(Date.parse(o.reportedAt) + thresholds('clusterReport').critical * 1000).toISOString(),
    lagging ? new Date(Date.parse(o.inSyncAt ?? o.firstReportedAt) + thresholds('clusterLag').critical * 1000).toISOString() : undefined,
  ].filter((d): d is string => !!d);
  const deadline = deadlines.sort((a, b) => Date.parse(a) - Date.parse(b))[0];
  return {
    item: `cluster:${o.cluster}/${o.object.replace(' ', '/')}`,
    kind: 'cluster',
    name: `${o.cluster}/${o.object}`,
    state,
    deadline,
    secondsLeft: Math.floor((Date.parse(deadline) - now.getTime()) / 1000),
    message,
  };
}

export const worst = (items: WatchItem[]): ItemState => (['expired', 'critical', 'warning', 'ok'] as ItemState[]).find((s) => items.some((i) => i.state === s)) ?? 'ok';
