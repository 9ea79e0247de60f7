/**
 * A bridge: a repository signed here whose targets are exactly the top-level targets of a
 * verified generation of another repository of this instance, byte for byte with their custom
 * metadata, plus where each was verified (provenance). Keys, root rotation, re-signing and
 * publishing (through the TUF client workflow) are the origin machinery's; this module decides
 * what to publish: a candidate from the source, checked by the compatibility gate against what
 * is promoted now, promoted automatically or by the operator, or held.
 */
import { canonicalize } from '@tufjs/canonical-json';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Config, RepositoryConfig } from '../config/config';
import { checkCompatibility, describeFindings, type GateReport } from '../compat/gate';
import type { Logger } from '../lib/log';
import { OriginError } from '../origin/errors';
import { initSigned, publishNewTargets, type Initialized, type KeyOptions, type OriginContext } from '../origin/origin';
import type { TargetFileSpec } from '../origin/trust-material';
import type { BridgeDecision, BridgeOutcome, GenerationRecord, NewEvent, Store } from '../store/store';
import { BridgeError } from './errors';
import { provenanceSchema, resolvedTargetOf, topLevelTargetNames, verifiedSourceTargets, type Provenance, type VerifiedSource } from './source';

/** The key under each target's `custom` that holds its provenance (next to `sigstore`, which is kept). */
export const PROVENANCE_KEY = 'tuf-mirror';

export type BridgeContext = OriginContext & { source: RepositoryConfig };

export function bridgeContext(config: Config, store: Store, repository: RepositoryConfig, logger: Logger): BridgeContext {
  if (repository.kind !== 'bridge' || !repository.bridge) throw new BridgeError('NOT_A_BRIDGE', `repository ${repository.name} is not kind: bridge`);
  const sourceName = repository.bridge.source;
  const source = config.repositories.find((r) => r.name === sourceName);
  if (!source) throw new BridgeError('NOT_A_BRIDGE', `${repository.name}: no source repository ${sourceName}`);
  return { store, repository, logger, source };
}

/** The site's targets for a verified source: its bytes, its custom, and the provenance. */
export function bridgedTargets(source: VerifiedSource): TargetFileSpec[] {
  return source.targets.map((t) => ({ name: t.name, bytes: t.bytes, custom: { ...t.info.custom, [PROVENANCE_KEY]: { provenance: source.provenance } } }));
}

type PromotedTarget = { bytes: Buffer; custom: Record<string, unknown>; provenance?: Provenance };

/**
 * What the bridge's served generation holds: each target's bytes, custom and provenance, read as
 * TUF resolves them (the site signs a top-level targets role only), checked against its signed hashes.
 */
export function promotedTargets(store: Store, name: string): { generation: GenerationRecord; targets: Map<string, PromotedTarget> } | undefined {
  const generation = store.currentGeneration(name);
  if (!generation) return undefined;
  const label = `${name} generation ${generation.id}`;
  const out = new Map<string, PromotedTarget>();
  for (const target of topLevelTargetNames(store, generation, label)) {
    const { info, bytes } = resolvedTargetOf(store, generation, target, label);
    const { [PROVENANCE_KEY]: ours, ...custom } = info.custom ?? {};
    out.set(target, { bytes, custom, provenance: provenanceOf(ours) });
  }
  return { generation, targets: out };
}

/** The provenance a bridged target carries under custom["tuf-mirror"], if it is one. */
export function provenanceOf(value: unknown): Provenance | undefined {
  const parsed = z.object({ provenance: provenanceSchema }).safeParse(value);
  return parsed.success ? parsed.data.provenance : undefined;
}

const contentKey = (bytes: Buffer, custom: Record<string, unknown>): string => `${createHash('sha256').update(bytes).digest('hex')} ${canonicalize(custom)}`;

/** Targets the candidate adds, removes or changes (bytes or custom), against the promoted ones. */
function changesOf(specs: TargetFileSpec[], promoted: Map<string, PromotedTarget> | undefined): string[] {
  const changes: string[] = [];
  const before = promoted ?? new Map<string, PromotedTarget>();
  for (const s of specs) {
    const { [PROVENANCE_KEY]: _ours, ...custom } = s.custom ?? {};
    const held = before.get(s.name);
    if (!held) changes.push(`+${s.name}`);
    else if (contentKey(held.bytes, held.custom) !== contentKey(s.bytes, custom)) changes.push(`~${s.name}`);
  }
  for (const name of before.keys()) if (!specs.some((s) => s.name === name)) changes.push(`-${name}`);
  return changes;
}

type Candidate = { source: VerifiedSource; specs: TargetFileSpec[]; changes: string[]; gate: GateReport; generation: GenerationRecord | undefined };

function candidate(ctx: BridgeContext, now: Date): Candidate {
  const source = verifiedSourceTargets(ctx.store, ctx.source, now);
  const specs = bridgedTargets(source);
  const promoted = promotedTargets(ctx.store, ctx.repository.name);
  const gate = checkCompatibility({
    targets: new Map(specs.map((s) => [s.name, s.bytes])),
    baseline: promoted && new Map([...promoted.targets].map(([n, t]) => [n, t.bytes])),
  });
  return { source, specs, changes: changesOf(specs, promoted?.targets), gate, generation: promoted?.generation };
}

const SEVERITY: Record<BridgeOutcome, NewEvent['severity']> = {
  current: 'info',
  promoted: 'info',
  pending: 'warning',
  'source-unavailable': 'warning',
  held: 'critical',
  failed: 'critical',
};

/**
 * Record a decision unless it says what the latest one said (a check runs every minute). A
 * promotion is always news; "current" is the same news whichever source generation (a new
 * upstream timestamp) or bridge generation (a re-signing) it was checked against.
 */
function record(ctx: BridgeContext, decision: BridgeDecision): BridgeDecision {
  const gist = (d: BridgeDecision): string => {
    const outcome = d.outcome === 'promoted' ? 'current' : d.outcome;
    const findings = d.findings.map((f) => `${f.code} ${f.subject ?? ''}`);
    if (outcome === 'current') return JSON.stringify([outcome, findings]);
    return JSON.stringify([outcome, d.sourceGeneration, findings, outcome === 'source-unavailable' || outcome === 'failed' ? d.message : '']);
  };
  const last = ctx.store.latestBridgeDecision(ctx.repository.name);
  if (decision.outcome !== 'promoted' && last && gist(last) === gist(decision)) return decision;
  ctx.store.recordBridgeDecision(ctx.repository.name, decision, SEVERITY[decision.outcome]);
  const level = SEVERITY[decision.outcome] === 'info' ? 'info' : 'warn';
  ctx.logger[level](
    { repository: ctx.repository.name, outcome: decision.outcome, source: decision.sourceGeneration, generation: decision.generation, findings: describeFindings(decision.findings) },
    decision.message,
  );
  return decision;
}

function decision(outcome: BridgeOutcome, c: Pick<Candidate, 'changes' | 'gate'> & { sourceGeneration: number | null }, generation: number | null, message: string, now: Date): BridgeDecision {
  return { outcome, sourceGeneration: c.sourceGeneration, generation, changes: c.changes, findings: c.gate.findings, consumers: c.gate.consumers, message, at: now.toISOString() };
}

/** Delegated parts the source could not verify, said where they do not stop the bridge (its watch reports them). */
const notBridged = (c: Candidate): string =>
  c.source.notBridged.length ? `; not bridged, and no bridged target resolves through it: ${c.source.notBridged.join(', ')} (the source's watch reports it)` : '';

const held = (c: Candidate, name: string): string =>
  `candidate from ${c.source.provenance.source} generation ${c.source.generation.id} HELD by the compatibility gate (${describeFindings(c.gate.findings.filter((f) => f.blocking)).join('; ')}); the promoted content stays served and re-signed; tuf-mirror bridge promote ${name} --force overrides`;

/**
 * Compare the source's verified generation with what is promoted and record the decision, without
 * publishing anything: what the watch, `bridge check` and the scheduler look at.
 */
export async function checkBridge(ctx: BridgeContext, now: Date = new Date()): Promise<BridgeDecision> {
  // Nothing here waits; the promise is the interface its callers (the CLI, tests) await, and a
  // failure stays a rejection rather than a synchronous throw.
  return Promise.resolve(decideBridge(ctx, now));
}

function decideBridge(ctx: BridgeContext, now: Date): BridgeDecision {
  const name = ctx.repository.name;
  const served = ctx.store.currentGeneration(name)?.id ?? null;
  let c: Candidate;
  try {
    c = candidate(ctx, now);
  } catch (err) {
    if (!(err instanceof BridgeError)) throw err;
    const empty = { changes: [], gate: { applicable: false, passed: true, findings: [], consumers: [] }, sourceGeneration: null };
    return record(ctx, decision('source-unavailable', empty, served, `${err.code}: ${err.message}; the promoted content stays served and re-signed`, now));
  }
  const facts = { ...c, sourceGeneration: c.source.generation.id };
  if (!c.changes.length) return record(ctx, decision('current', facts, served, `promoted content equals ${ctx.source.name} generation ${c.source.generation.id}${notBridged(c)}`, now));
  if (!c.gate.passed) return record(ctx, decision('held', facts, served, held(c, name), now));
  return record(
    ctx,
    decision(
      'pending',
      facts,
      served,
      `candidate from ${ctx.source.name} generation ${c.source.generation.id} (${c.changes.join(' ')}) passed the gate: tuf-mirror bridge promote ${name}${notBridged(c)}`,
      now,
    ),
  );
}

export type PromoteOptions = {
  /** Where the targets keys are (offline keys brought back); the configured keysDir is read too. */
  keysDir?: string;
  /** Promote a candidate the gate holds: the operator's override. */
  force?: boolean;
  now?: Date;
};

/** Publish the source's verified generation as the site's next targets, if it changed and passes the gate. */
export async function promoteBridge(ctx: BridgeContext, options: PromoteOptions = {}): Promise<BridgeDecision> {
  const now = options.now ?? new Date();
  const name = ctx.repository.name;
  const c = candidate(ctx, now);
  const facts = { ...c, sourceGeneration: c.source.generation.id };
  const served = c.generation?.id ?? null;
  if (!c.changes.length) return record(ctx, decision('current', facts, served, `nothing to promote: the promoted content equals ${ctx.source.name} generation ${c.source.generation.id}`, now));
  if (!c.gate.passed && !options.force) {
    record(ctx, decision('held', facts, served, held(c, name), now));
    throw new BridgeError('GATE_FAILED', held(c, name));
  }
  const reason = `promote ${ctx.source.name} generation ${c.source.generation.id}${c.gate.passed ? '' : ' (forced past the gate)'}`;
  const generation = await publishNewTargets(ctx, c.specs, options.keysDir, reason, now);
  const forced = c.gate.passed ? '' : ` FORCED past the gate: ${describeFindings(c.gate.findings.filter((f) => f.blocking)).join('; ')}`;
  return record(
    ctx,
    decision(
      'promoted',
      facts,
      generation.id,
      `promoted ${ctx.source.name} generation ${c.source.generation.id} as targets v${generation.targetsVersion} (${c.changes.join(' ')})${forced}${notBridged(c)}`,
      now,
    ),
  );
}

/** The service's routine: check, and with `promote: auto` promote what passes. Never throws for the source's or the gate's sake. */
export async function tickBridge(ctx: BridgeContext, now: Date = new Date()): Promise<BridgeDecision> {
  const checked = decideBridge(ctx, now);
  if (checked.outcome !== 'pending' || ctx.repository.bridge?.promote !== 'auto') return checked;
  try {
    return await promoteBridge(ctx, { now });
  } catch (err) {
    const code = err instanceof BridgeError || err instanceof OriginError ? `${err.code}: ` : '';
    const message = `promotion of ${ctx.source.name} generation ${String(checked.sourceGeneration)} failed: ${code}${err instanceof Error ? err.message : String(err)}; the promoted content stays served and re-signed`;
    return record(ctx, { ...checked, outcome: 'failed', message, at: now.toISOString() });
  }
}

/** Site keys, root v1 and generation 1 holding the source's verified targets (they must pass the gate unless forced). */
export async function initBridge(ctx: BridgeContext, options: KeyOptions & { force?: boolean }): Promise<Initialized & { decision: BridgeDecision }> {
  const now = options.now ?? new Date();
  const c = candidate(ctx, now);
  const facts = { ...c, sourceGeneration: c.source.generation.id };
  if (!c.gate.passed && !options.force) throw new BridgeError('GATE_FAILED', held(c, ctx.repository.name));
  const initialized = await initSigned(ctx, c.specs, { ...options, now });
  const d = record(ctx, decision('promoted', facts, initialized.generation.id, `initialized from ${ctx.source.name} generation ${c.source.generation.id} (${c.specs.length} targets)`, now));
  return { ...initialized, decision: d };
}
