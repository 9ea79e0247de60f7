/** Scheduled refresh: cron ticks run syncs; failures are retried with backoff; stopping cancels. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../lib/log';
import { SyncError } from '../../sync/errors';
import { SyncScheduler } from '../../daemon/scheduler';
import type { SyncResult } from '../../sync/sync';
import { mirrorOfRepository, testConfig } from '../helpers/mirror';
import { TestRepository } from '../../testing/tuf-repo';

const repo = new TestRepository();
repo.addTarget('trusted_root.json', 'x\n');
repo.publish();
// Every second (node-cron's six-field form), no jitter: the schedule alone keeps the mirror fresh.
const env = mirrorOfRepository(repo, { sync: { onStart: false, schedule: '* * * * * *', jitterSeconds: 0 } }, { schedule: true });

test('the cron schedule syncs without being asked, and picks up upstream changes', async () => {
  for (let i = 0; i < 300 && !env.mirror.index.generationOf('sigstore'); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(env.mirror.index.generationOf('sigstore'), 'a scheduled sync committed a generation');
  repo.bumpTimestamp();
  const wanted = repo.files().get('timestamp.json')!;
  let served = false;
  for (let i = 0; i < 300 && !served; i++) {
    served = env.mirror.index.lookup('sigstore', 'timestamp.json')?.body.equals(wanted) ?? false;
    if (!served) await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(served, 'the next tick served the new timestamp');
});

const failed = (code: SyncError['code']): SyncResult => ({ outcome: 'failed', runId: 1, error: new SyncError(code, code), requests: 1, bytes: 0 });

test('failures are retried with exponential backoff; final ones are not', async () => {
  const config = testConfig([{ upstream: 'http://127.0.0.1:9', anchor: repo.rootBytes(1) }], { sync: { retries: 3, retryBackoffSeconds: 0.01 } });
  const outcomes: SyncResult[] = [failed('UPSTREAM_UNREACHABLE'), failed('UPSTREAM_TIMEOUT'), { ...failed('BAD_VERSION') }];
  let calls = 0;
  const scheduler = new SyncScheduler(
    config,
    () => Promise.resolve(outcomes[calls++] ?? { outcome: 'unchanged', runId: 9, generation: {} as never, requests: 2, bytes: 0 }),
    silentLogger,
    new AbortController().signal,
  );
  const result = await scheduler.runWithRetries(config.repositories[0]);
  assert.equal(calls, 4, 'three retries after the first failure');
  assert.equal(result.outcome, 'unchanged');

  let inProgressCalls = 0;
  const busy = new SyncScheduler(config, () => Promise.resolve((inProgressCalls++, failed('SYNC_IN_PROGRESS'))), silentLogger, new AbortController().signal);
  await busy.runWithRetries(config.repositories[0]);
  assert.equal(inProgressCalls, 1, 'another process is syncing: no retry');

  const stop = new AbortController();
  let cancelledCalls = 0;
  const slow = testConfig([{ upstream: 'http://127.0.0.1:9', anchor: repo.rootBytes(1) }], { sync: { retries: 3, retryBackoffSeconds: 3600 } });
  const stopping = new SyncScheduler(slow, () => Promise.resolve((cancelledCalls++, failed('UPSTREAM_UNREACHABLE'))), silentLogger, stop.signal);
  const pending = stopping.runWithRetries(slow.repositories[0]);
  stop.abort();
  assert.equal((await pending).outcome, 'failed');
  assert.equal(cancelledCalls, 1, 'stopping the service ends the backoff at once');
});
