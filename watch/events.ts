import type { Root } from '@tufjs/models';
import type { TrustEntry } from '../lib/trusted-root';
import { parseRoot } from '../lib/tuf-metadata';
import type { NewEvent } from '../store/store';

export type RoleChange = { role: string; keysAdded: string[]; keysRemoved: string[]; thresholdFrom: number | null; thresholdTo: number | null };

/** What changed between two consecutive roots: per role, key ids added and removed, thresholds. */
export function rootChanges(previous: Root, next: Root): RoleChange[] {
  // A role only one of the two roots lists is read as absent (no keys, no threshold) in the other.
  const previousRoles = new Map(Object.entries(previous.roles));
  const nextRoles = new Map(Object.entries(next.roles));
  const roles = [...new Set([...previousRoles.keys(), ...nextRoles.keys()])].sort();
  const changes: RoleChange[] = [];
  for (const role of roles) {
    const a = previousRoles.get(role);
    const b = nextRoles.get(role);
    const before = new Set(a?.keyIDs ?? []);
    const after = new Set(b?.keyIDs ?? []);
    const keysAdded = [...after].filter((k) => !before.has(k)).sort();
    const keysRemoved = [...before].filter((k) => !after.has(k)).sort();
    const thresholdFrom = a?.threshold ?? null;
    const thresholdTo = b?.threshold ?? null;
    if (keysAdded.length || keysRemoved.length || thresholdFrom !== thresholdTo) changes.push({ role, keysAdded, keysRemoved, thresholdFrom, thresholdTo });
  }
  return changes;
}

/** A root-rotation event for root `next`, or none when it changed no keys or thresholds. */
export function rotationEvent(previousBytes: Buffer, nextBytes: Buffer, generationId: number, initial: boolean): NewEvent | undefined {
  const previous = parseRoot(previousBytes).signed;
  const next = parseRoot(nextBytes).signed;
  const changes = rootChanges(previous, next);
  if (changes.length === 0) return undefined;
  return {
    kind: 'root-rotation',
    // The first fill replays history: worth recording, not worth paging anyone for.
    severity: initial ? 'info' : 'warning',
    generationId,
    data: { fromVersion: previous.version, toVersion: next.version, expires: next.expires, initial, changes },
  };
}

/** Trust material that appeared, disappeared or changed its validity window in trusted_root.json. */
export function trustedRootEvent(previous: TrustEntry[], next: TrustEntry[], generationId: number): NewEvent | undefined {
  const key = (e: TrustEntry) => `${e.kind} ${e.id}`;
  const before = new Map(previous.map((e) => [key(e), e]));
  const after = new Map(next.map((e) => [key(e), e]));
  const added = [...after.values()].filter((e) => !before.has(key(e)));
  const removed = [...before.values()].filter((e) => !after.has(key(e)));
  const changed = [...after.values()].flatMap((e) => {
    const was = before.get(key(e));
    return was && (was.start !== e.start || was.end !== e.end) ? [{ kind: e.kind, id: e.id, url: e.url, from: { start: was.start, end: was.end }, to: { start: e.start, end: e.end } }] : [];
  });
  if (!added.length && !removed.length && !changed.length) return undefined;
  return { kind: 'trusted-root-change', severity: 'warning', generationId, data: { added, removed, changed } };
}
