/**
 * Results reused for `ttlMs`, and concurrent identical requests sharing one computation. Keys
 * must name everything the result depends on (digest, policy, trust-root generation). Failures
 * that are not answers (a registry that is down) are not kept.
 */
export class ResultCache<T> {
  private readonly entries = new Map<string, { expires: number; value: Promise<T> }>();
  hits = 0;
  misses = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  get(key: string, compute: () => Promise<T>): Promise<T> {
    const t = this.now();
    const hit = this.entries.get(key);
    if (hit && hit.expires > t) {
      this.hits++;
      return hit.value;
    }
    this.misses++;
    const value = compute();
    // In flight: shared until settled, then kept for the TTL.
    this.entries.set(key, { expires: Number.POSITIVE_INFINITY, value });
    value.then(
      () => {
        if (this.entries.get(key)?.value !== value) return;
        if (this.ttlMs <= 0) this.entries.delete(key);
        else this.entries.set(key, { expires: this.now() + this.ttlMs, value });
      },
      () => {
        if (this.entries.get(key)?.value === value) this.entries.delete(key);
      },
    );
    if (this.entries.size > this.maxEntries) this.prune(t);
    return value;
  }

  private prune(t: number): void {
    for (const [k, e] of this.entries) if (e.expires <= t) this.entries.delete(k);
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }

  get size(): number {
    return this.entries.size;
  }
}
