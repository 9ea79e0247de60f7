/**
 * Preload (`node -r dist/bench/pin-date.js ...`) that moves the process clock to the moment the
 * fixture repository is valid (test/fixtures/README.md), so `tuf-mirror sync` accepts metadata
 * that is expired by today's clock. Only the benchmark's one-off sync runs with it; `serve` does not.
 *
 * `new Date()`, `Date()` and `Date.now()` start at BENCH_PIN_DATE (default 2026-08-22T00:00:00Z)
 * when first read and advance with real time from there, so anything that measures durations still works.
 * `new Date(x)` with an argument, timers and `performance.now()` are untouched.
 */
const PINNED = process.env.BENCH_PIN_DATE ?? '2026-08-22T00:00:00Z';
const PIN = Date.parse(PINNED);
if (Number.isNaN(PIN)) throw new Error(`pin-date: BENCH_PIN_DATE is not a date: ${PINNED}`);

const RealDate = Date;
const realNow = Date.now.bind(Date);
// The pinned clock starts at its first reading, not at preload: loading the program (seconds on a
// loaded machine) does not move the instant a command signs or checks at.
let startedAt: number | undefined;
const pinnedNow = (): number => {
  startedAt ??= realNow();
  return PIN + (realNow() - startedAt);
};

const PinnedDate: DateConstructor = new Proxy(RealDate, {
  construct(target, args: unknown[], newTarget): object {
    // `new Date(...)` reaches here with newTarget === the proxy; subclasses keep their own.
    return Reflect.construct(target, args.length ? args : [pinnedNow()], newTarget === PinnedDate ? target : newTarget) as object;
  },
  apply() {
    return new RealDate(pinnedNow()).toString();
  },
  get(target, prop, receiver) {
    if (prop === 'now') return pinnedNow;
    return Reflect.get(target, prop, receiver) as unknown;
  },
});

globalThis.Date = PinnedDate;
