/**
 * Syncs and re-signings under way, whoever started them (schedule, start-up, admin API): closing
 * waits for them, so a cancelled sync records its run and releases its lock before the store closes.
 */
export class WorkUnderway {
  private readonly underway = new Set<Promise<unknown>>();
  private readonly publishing = new Map<string, Promise<unknown>>();

  track<T>(work: Promise<T>): Promise<T> {
    this.underway.add(work);
    work.then(
      () => this.underway.delete(work),
      () => this.underway.delete(work),
    );
    return work;
  }

  /**
   * One publication at a time per repository signed here: re-signing and a bridge's promotion
   * both publish through a sync of that repository, which refuses to run twice at once.
   */
  serialized<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.publishing.get(name) ?? Promise.resolve()).then(fn, fn);
    this.publishing.set(
      name,
      run.catch(() => undefined),
    );
    return this.track(run);
  }

  async settled(): Promise<void> {
    await Promise.allSettled(this.underway);
  }
}
