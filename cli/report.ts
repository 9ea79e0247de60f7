/**
 * How commands print their results. With --json every command uses the same field names:
 * `repository`, `generation` (a generation id), `outcome`, `roles` ({role, version, expires}),
 * `files`, `bytes`, and on failure `error` ({code, message}); the text forms say the same.
 */
import type { BridgeDecision } from '../store/store';
import { syncReport, type SyncReport } from '../sync/import';
import { problemLines } from '../watch/status';

export { syncReport as operationReport };

export const rolesText = (roles: { role: string; version: number }[] = []): string => roles.map((r) => `${r.role} v${r.version}`).join(', ');

/** The text report of a sync or an import: one line, and what is still served when it failed. */
export function printOperation(verb: 'sync' | 'import', report: SyncReport): void {
  const out = (line: string): boolean => process.stdout.write(line + '\n');
  const read = verb === 'sync' ? 'requests' : 'files read';
  if (report.error) {
    out(`${report.repository}: ${verb} FAILED: ${report.error.code}${report.error.role ? ` [${report.error.role}]` : ''}: ${report.error.message}`);
    out(report.generation !== null ? `  still serving generation ${report.generation}` : '  nothing held yet');
    if (verb === 'import' && report.error.code === 'EXPIRED_METADATA') out('  --allow-expired imports it anyway, marked as expired (for staging and tests only)');
    return;
  }
  const what = report.outcome === 'updated' ? 'new generation' : 'unchanged, generation';
  out(`${report.repository}: ${what} ${String(report.generation)} (${rolesText(report.roles)}; ${report.requests} ${read}, ${report.bytes} bytes)`);
  for (const r of report.expiredMetadataAccepted ?? []) out(`  WARNING: accepted expired metadata: ${r.role} v${r.version} expired ${r.expires}`);
  for (const line of problemLines(report)) out(line);
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** A bridge's decision as `--json` prints it: the shared `repository`, `outcome` and `generation` (the bridge's generation served), then the decision's own fields. */
export type BridgeReport = { repository: string } & BridgeDecision;

export const bridgeReport = (repository: string, decision: BridgeDecision): BridgeReport => ({ repository, ...decision });

/** A decision a sync exits 1 for: a held candidate or a failed promotion (both critical). */
export const bridgeFailed = (d: BridgeDecision): boolean => d.outcome === 'held' || d.outcome === 'failed';
