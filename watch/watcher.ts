import { isSignedHere, type Config, type RepositoryConfig } from '../config/config';
import { checkCompatibility, describeFindings, type GateReport } from '../compat/gate';
import type { Logger } from '../lib/log';
import { parseTrustedRoot, trustEntries, type TrustEntry } from '../lib/trusted-root';
import type { GenerationRecord, NewEvent, Store } from '../store/store';
import { evaluateRepository, type WatchItem } from './evaluate';
import { rotationEvent, trustedRootEvent } from './events';
import { thresholdsFor } from './thresholds';
import type { Alert, WebhookNotifier } from './webhooks';

const SEVERITY = { ok: 'info', warning: 'warning', critical: 'critical', expired: 'critical' } as const;
const TRUSTED_ROOT = 'trusted_root.json';
/** How an import records its source (sync/archive.ts describeArchive). */
const ARCHIVE_SOURCE = 'archive ';

/**
 * The watch side of the flow: reads what the store holds, derives events from each new
 * generation (root rotations, trust material changes) and alert states from the clock, records
 * both in the store and notifies on change. Any process may run it: the store's cursor and
 * state rows make each event and each state change count once.
 */
export class Watcher {
  /** The gate's report per repository, for the generation it was computed on (generations never change). */
  private readonly gated = new Map<string, { generationId: number; report: GateReport }>();

  constructor(
    private readonly store: Store,
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly notifier?: WebhookNotifier,
  ) {}

  /** Current states of a repository's items, without recording anything. */
  items(repository: RepositoryConfig, now: Date = new Date()): WatchItem[] {
    const generation = this.store.currentGeneration(repository.name);
    const lastSuccess = this.store.lastSyncRun(repository.name, ['updated', 'unchanged']);
    return evaluateRepository({
      generation,
      trustEntries: this.trustOf(generation && this.trustedRootOf(generation)),
      lastSuccessAt: lastSuccess?.finishedAt ?? undefined,
      createdAt: this.store.repositoryCreatedAt(repository.name),
      now,
      thresholds: thresholdsFor(this.config, repository),
      compatibility: generation && this.compatibility(generation),
      bridge: repository.kind === 'bridge' ? this.store.latestBridgeDecision(repository.name) : undefined,
      signedHere: isSignedHere(repository),
      archiveFed: lastSuccess?.source.startsWith(ARCHIVE_SOURCE) === true,
      clusterOutputs: this.store.clusterOutputs(repository.name),
    });
  }

  /** The compatibility gate on a generation's target files, computed once per generation. */
  compatibility(generation: GenerationRecord, baseline?: GenerationRecord): GateReport {
    const cached = this.gated.get(generation.repository);
    if (!baseline && cached?.generationId === generation.id) return cached.report;
    const report = checkCompatibility({ targets: this.targetsOf(generation), baseline: baseline && this.targetsOf(baseline) });
    if (!baseline) this.gated.set(generation.repository, { generationId: generation.id, report });
    return report;
  }

  /** Every target the generation resolves, read as TUF's search resolves it and checked against its signed hashes. */
  private targetsOf(generation: GenerationRecord): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    for (const { name } of this.store.resolvedTargets(generation.id)) {
      const bytes = this.resolvedBytes(generation, name);
      if (bytes) out.set(name, bytes);
    }
    return out;
  }

  /** Events of the generations committed since the last look, by this process or another. */
  examine(repository: RepositoryConfig): void {
    const name = repository.name;
    const { watchedId, previous, generations } = this.store.unwatchedGenerations(name);
    const last = generations.at(-1);
    if (!last) return;
    const roots = new Map(this.store.roots(name).map((r) => [r.version, r.sha256]));
    const rootBytes = (v: number) => {
      const sha256 = roots.get(v);
      return sha256 === undefined ? undefined : this.store.blob(sha256);
    };
    const events: NewEvent[] = [];
    let prev: GenerationRecord | undefined = previous;
    for (const generation of generations) {
      const initial = !prev;
      for (let v = (prev?.rootVersion ?? generation.summary.rootVersions[0]) + 1; v <= generation.rootVersion; v++) {
        const [a, b] = [rootBytes(v - 1), rootBytes(v)];
        const event = a && b ? rotationEvent(a, b, generation.id, initial) : undefined;
        if (event) events.push(event);
      }
      if (prev) {
        const [a, b] = [this.trustOf(this.trustedRootOf(prev)), this.trustOf(this.trustedRootOf(generation))];
        const event = a && b ? trustedRootEvent(a, b, generation.id) : undefined;
        // What the upstream dropped without retiring it first: the gate's check, reported (a mirror
        // serves what its upstream signed; a bridge holds such a candidate instead).
        const removed = event ? this.compatibility(generation, prev).findings.filter((f) => f.code === 'AUTHORITY_REMOVED') : [];
        if (event && removed.length) events.push({ ...event, severity: 'critical', data: { ...event.data, blocking: removed } });
        else if (event) events.push(event);
      }
      prev = generation;
    }
    if (!this.store.recordGenerationEvents(name, watchedId, last.id, events)) return; // another process got there first
    for (const e of events) {
      if (e.severity === 'info') continue;
      const rotation = e.kind === 'root-rotation';
      const blocking = Array.isArray(e.data.blocking) ? e.data.blocking.length : 0;
      const message = rotation
        ? `root rotated v${String(e.data.fromVersion)} → v${String(e.data.toVersion)}: ${(e.data.changes as { role: string }[]).map((c) => c.role).join(', ')} changed`
        : `trusted_root.json changed its trust material${blocking ? `; ${blocking} authorit${blocking > 1 ? 'ies' : 'y'} removed without a validFor.end` : ''}`;
      this.logger.warn({ repository: name, kind: e.kind, data: e.data }, message);
      this.notify({
        kind: e.kind as Alert['kind'],
        repository: name,
        item: rotation ? 'root' : 'trusted-root',
        state: 'changed',
        previousState: null,
        severity: e.severity,
        message,
        at: new Date().toISOString(),
        data: e.data,
      });
    }
  }

  /** Evaluate states now; record and notify each change (and only changes). */
  evaluate(repository: RepositoryConfig, now: Date = new Date()): WatchItem[] {
    const items = this.items(repository, now);
    const generationId = this.store.currentGeneration(repository.name)?.id ?? null;
    // One transaction for all items: a repository with hundreds of roles has as many.
    const transitions = this.store.transitionAlertStates(
      repository.name,
      items.map((item) => ({
        item: item.item,
        state: item.state,
        // A first look that finds an item fine is not an event, and not news.
        event: (from: string | null) =>
          from === null && item.state === 'ok'
            ? undefined
            : {
                kind: 'state-change',
                severity: SEVERITY[item.state],
                generationId,
                at: now.toISOString(),
                data: { item: item.item, from, to: item.state, deadline: item.deadline, message: item.message },
              },
      })),
    );
    items.forEach((item, i) => {
      const changed = transitions[i];
      if (!changed || (changed.from === null && item.state === 'ok')) return;
      const resolved = item.state === 'ok';
      this.logger[resolved ? 'info' : 'warn']({ repository: repository.name, item: item.item, from: changed.from, to: item.state }, item.message);
      this.notify({
        kind: 'state-change',
        repository: repository.name,
        item: item.item,
        state: resolved ? 'resolved' : item.state,
        previousState: changed.from,
        severity: SEVERITY[item.state],
        message: item.message,
        at: now.toISOString(),
        deadline: item.deadline,
        ...(item.findings?.length && !resolved ? { data: { findings: describeFindings(item.findings) } } : {}),
      });
    });
    return items;
  }

  /** Both, for every repository: what the periodic loop and every sync call. */
  watch(repository: RepositoryConfig, now: Date = new Date()): void {
    try {
      this.examine(repository);
      this.evaluate(repository, now);
    } catch (err) {
      this.logger.error({ err, repository: repository.name }, 'watch failed');
    }
  }

  private notify(alert: Alert): void {
    this.notifier?.send(alert);
  }

  /** The trusted_root.json target as TUF's search resolves it in that generation, checked against its signed hashes. */
  private trustedRootOf(generation: GenerationRecord): Buffer | undefined {
    return this.resolvedBytes(generation, TRUSTED_ROOT);
  }

  /** A target's bytes as resolved in a generation; undefined (and logged) when the stored bytes fail their signed hashes. */
  private resolvedBytes(generation: GenerationRecord, name: string): Buffer | undefined {
    try {
      return this.store.resolvedTarget(generation.id, name)?.bytes;
    } catch (err) {
      this.logger.error({ err, generation: generation.id, target: name }, `${name} of the generation does not match its signed hashes`);
      return undefined;
    }
  }

  private trustOf(bytes: Buffer | undefined): TrustEntry[] | undefined {
    if (!bytes) return undefined;
    try {
      return trustEntries(parseTrustedRoot(bytes));
    } catch {
      return undefined; // not every TUF repository carries a Sigstore trusted root
    }
  }
}
