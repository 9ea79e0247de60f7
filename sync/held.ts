/**
 * What a sync knows from the generation served now, read from the store only when a step asks:
 * a no-op run reads its timestamp.json and nothing else, a run that changed one role reads
 * that role's part.
 */
import { metadataPath } from '../lib/layout';
import type { GenerationBody, GenerationLayout, GenerationRecord, Store, TargetRecord } from '../store/store';

export class HeldGeneration {
  readonly generation?: GenerationRecord;
  private layoutRead?: GenerationLayout;
  private readonly targetsByPart = new Map<string, Map<string, TargetRecord>>();

  constructor(
    private readonly store: Store,
    repository: string,
  ) {
    this.generation = store.currentGeneration(repository);
  }

  /** The sha256 of the held file at `path`. */
  sha(path: string): string | undefined {
    return this.generation && this.store.generationFile(this.generation.id, path);
  }

  /** The bytes of the held file at `path`. */
  file(path: string): Buffer | undefined {
    const sha = this.sha(path);
    return sha === undefined ? undefined : this.store.blob(sha);
  }

  private timestampRead?: { bytes?: Buffer };

  /** The held timestamp.json (read once). */
  get timestamp(): Buffer | undefined {
    return (this.timestampRead ??= { bytes: this.file(metadataPath('timestamp')) }).bytes;
  }

  /** The held generation's head block and file set (one row). */
  body(): GenerationBody | undefined {
    return this.generation && this.store.generationBody(this.generation.id);
  }

  /** The blocks of the held file set that hold `path`, and what they hold there. */
  fileSetPath(fileSetId: number, path: string): { blockId: number; role: string | null; sha256: string }[] {
    return this.store.fileSetPath(fileSetId, path);
  }

  /** Where the held generation's files are: its blocks (ids and kinds only). */
  layout(): GenerationLayout | undefined {
    if (!this.generation) return undefined;
    return (this.layoutRead ??= this.store.generationLayout(this.generation.id));
  }

  /**
   * The held resolutions of the targets `role` resolved in bucket `part`, by name: a target listed
   * again with the same length and hashes is the file already held (it was checked against all of
   * them). The held block of that bucket when there is one (a name not in it is not held for that
   * role); else, when the role's buckets were cut otherwise (or before blocks), all of the role's.
   */
  targetsOf(role: string, part: string): Map<string, TargetRecord> {
    const blocks = this.layout()?.blocks ?? [];
    const bucket = blocks.find((b) => b.kind === 'targets' && b.role === role && b.part === part);
    const id = bucket ? `${role}\n${part}` : role;
    let byName = this.targetsByPart.get(id);
    if (!byName) {
      byName = new Map();
      const sources = bucket ? [bucket] : blocks.filter((b) => (b.kind === 'targets' && b.role === role) || b.kind === 'legacy' || b.kind === 'resolutions');
      for (const block of sources) for (const t of this.store.blockTargets(block.id)) if (t.role === role) byName.set(t.name, t);
      this.targetsByPart.set(id, byName);
    }
    return byName;
  }
}
