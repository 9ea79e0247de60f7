import type { Config, RepositoryConfig } from '../config/config';
import { humanDuration } from '../lib/duration';
import { redactUrl } from '../lib/log';
import type { GenerationRecord, RoleProblem, Store, SyncRunRecord, TargetProblem } from '../store/store';
import { worst, type ItemState, type WatchItem } from './evaluate';

export type RoleStatus = {
  role: string;
  version: number;
  expires: string;
  /** Seconds until `expires`; negative once expired. */
  expiresInSeconds: number;
  expired: boolean;
};

export type RepositoryStatus = {
  name: string;
  upstream: string;
  default: boolean;
  /** The generation being served, or null before the first successful sync. */
  generation: {
    id: number;
    createdAt: string;
    files: number;
    bytes: number;
    targets: string[];
    rootVersions: number[];
    /** Roles already expired when imported with --allow-expired; absent otherwise. */
    expiredMetadataAccepted?: { role: string; version: number; expires: string }[];
    /** Delegated roles the run that committed it could not mirror; absent when none. */
    failedRoles?: RoleProblem[];
    /** Target names that run refused; absent when none. */
    refusedTargets?: TargetProblem[];
  } | null;
  roles: RoleStatus[];
  lastSync: SyncRunView | null;
  lastSuccessfulSync: SyncRunView | null;
  /** false when the latest attempt could not reach the upstream; null before any attempt. */
  upstreamReachable: boolean | null;
  /** The worst state of any watched item: what a probe or a pager looks at. */
  state: ItemState;
  /** Every watched item: each role's expiry, trusted_root.json validity, sync freshness. */
  items: WatchItem[];
};

export type SyncRunView = Omit<SyncRunRecord, 'repository'>;

const UNREACHABLE = new Set(['UPSTREAM_UNREACHABLE', 'UPSTREAM_TIMEOUT']);

export function roleStatuses(generation: GenerationRecord, now: Date = new Date()): RoleStatus[] {
  return generation.summary.roles.map((r) => {
    const left = Math.floor((Date.parse(r.expires) - now.getTime()) / 1000);
    return { role: r.role, version: r.version, expires: r.expires, expiresInSeconds: left, expired: left <= 0 };
  });
}

export function repositoryStatus(store: Store, repository: RepositoryConfig, items: WatchItem[], now: Date = new Date()): RepositoryStatus {
  const generation = store.currentGeneration(repository.name);
  const lastSync = store.lastSyncRun(repository.name);
  const lastSuccess = store.lastSyncRun(repository.name, ['updated', 'unchanged']);
  const view = (r: SyncRunRecord | undefined): SyncRunView | null => {
    if (!r) return null;
    const { repository: _ignored, ...rest } = r;
    return rest;
  };
  return {
    name: repository.name,
    upstream:
      repository.kind === 'origin' ? 'origin (signed by this service)' : repository.bridge ? `bridge of ${repository.bridge.source} (re-signed by this service)` : redactUrl(repository.upstream),
    default: repository.default,
    generation: generation
      ? {
          id: generation.id,
          createdAt: generation.createdAt,
          files: generation.summary.files,
          bytes: generation.summary.bytes,
          targets: generation.summary.targets,
          rootVersions: generation.summary.rootVersions,
          ...(generation.summary.expiredMetadataAccepted ? { expiredMetadataAccepted: generation.summary.expiredMetadataAccepted } : {}),
          ...(generation.summary.failedRoles ? { failedRoles: generation.summary.failedRoles } : {}),
          ...(generation.summary.refusedTargets ? { refusedTargets: generation.summary.refusedTargets } : {}),
        }
      : null,
    roles: generation ? roleStatuses(generation, now) : [],
    lastSync: view(lastSync),
    lastSuccessfulSync: view(lastSuccess),
    upstreamReachable: !lastSync || lastSync.outcome === 'running' ? null : !(lastSync.error && UNREACHABLE.has(lastSync.error.code)),
    state: worst(items),
    items,
  };
}

export function allStatuses(store: Store, config: Config, itemsOf: (r: RepositoryConfig) => WatchItem[], now: Date = new Date()): RepositoryStatus[] {
  return config.repositories.map((r) => repositoryStatus(store, r, itemsOf(r), now));
}

/** Status as a person reads it in a terminal. */
export function formatStatus(statuses: RepositoryStatus[], now: Date = new Date()): string {
  const lines: string[] = [];
  for (const s of statuses) {
    lines.push(`${s.name}${s.default ? ' (default)' : ''}  ← ${s.upstream}`);
    if (!s.generation) {
      lines.push('  holds nothing yet: no sync has succeeded');
    } else {
      lines.push(
        `  generation ${s.generation.id} from ${s.generation.createdAt}: ${s.generation.files} files, ${s.generation.bytes} bytes, roots v${s.generation.rootVersions[0]}..v${String(s.generation.rootVersions.at(-1))}`,
      );
      const accepted = s.generation.expiredMetadataAccepted;
      if (accepted) lines.push(`  imported with --allow-expired: ${accepted.map((r) => `${r.role} v${r.version} had expired ${r.expires}`).join(', ')}`);
      lines.push('  role                  version  expires                   left                 state');
      const stateOf = (item: string) => s.items.find((i) => i.item === item)?.state ?? 'ok';
      for (const r of s.roles) {
        const left = r.expired ? 'EXPIRED ' + humanDuration(-r.expiresInSeconds) + ' ago' : humanDuration(r.expiresInSeconds);
        lines.push(`  ${r.role.padEnd(21)} ${String(r.version).padStart(7)}  ${r.expires.padEnd(24)}  ${left.padEnd(19)}  ${stateOf(`role:${r.role}`).toUpperCase()}`);
      }
      lines.push(...problemLines(s.generation));
      for (const action of s.items.flatMap((i) => (i.action ? [i.action] : []))) lines.push(`  next: ${action}`);
      lines.push('  trusted_root.json       state     valid');
      for (const i of s.items.filter((i) => i.kind === 'trusted-root')) lines.push(`  ${i.name.padEnd(23)} ${i.state.toUpperCase().padEnd(9)} ${i.message}`);
    }
    const last = s.lastSync;
    if (last) {
      const when = last.finishedAt ?? last.startedAt;
      const ago = humanDuration(Math.floor((now.getTime() - Date.parse(when)) / 1000));
      lines.push(
        `  last sync: ${last.outcome} ${ago} ago (${last.requests} requests, ${last.bytes} bytes)${last.error ? `: ${last.error.code}${last.error.role ? ` [${last.error.role}]` : ''} ${last.error.message}` : ''}`,
      );
    } else {
      lines.push('  last sync: never');
    }
    for (const i of s.items.filter((i) => i.kind === 'compatibility' || i.kind === 'bridge')) {
      lines.push(`  ${i.name} ${i.state.toUpperCase()}: ${i.message}`);
      // The bridge item repeats the candidate's findings: its blocking ones are news, its notices are not.
      for (const f of (i.findings ?? []).filter((f) => i.kind === 'compatibility' || f.blocking))
        lines.push(`    ${f.blocking ? 'BLOCKING ' : ''}${f.code}${f.consumer ? ` [${f.consumer}]` : ''}: ${f.message}`);
    }
    for (const i of s.items.filter((i) => i.kind === 'cluster')) lines.push(`  cluster ${i.state.toUpperCase()}: ${i.message}`);
    if (s.upstreamReachable === false) lines.push('  upstream UNREACHABLE: serving what is held');
    const sync = s.items.find((i) => i.kind === 'sync');
    if (sync && sync.state !== 'ok') lines.push(`  sync ${sync.state.toUpperCase()}: ${sync.message}`);
    lines.push(`  overall: ${s.state.toUpperCase()}`);
    lines.push('');
  }
  return lines.join('\n');
}

/** What a committing run could not mirror, one line each (status, `sync`, `import`). */
export function problemLines(p: { failedRoles?: RoleProblem[]; refusedTargets?: TargetProblem[] }): string[] {
  return [
    ...(p.failedRoles ?? []).map((f) => `  role ${f.role} NOT MIRRORED: ${f.code}: ${f.message}${f.servedVersion !== null ? ` (still serving v${f.servedVersion})` : ''}`),
    ...(p.refusedTargets ?? []).map((t) => `  target ${t.name} REFUSED: ${t.code}: ${t.message}`),
  ];
}
