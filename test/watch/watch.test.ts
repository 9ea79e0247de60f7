/**
 * Watch on the real public-good repository with the clock pinned: expiry states, metrics and
 * webhooks as the timestamp runs down, then past its expiry.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { packageRoot } from '../../lib/paths';
import { after, before, describe, mock, test } from 'node:test';
import type { Config } from '../../config/config';
import type { Service } from '../../server/service';
import { FIXTURE, FIXTURE_NOW, get, startMirror, testConfig } from '../helpers/mirror';
import { startReceiver } from '../helpers/receiver';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const TOKEN = 'test-admin-token-0123456789';
let upstream: UpstreamServer;
let mirror: Service;
let config: Config;
let generic: Awaited<ReturnType<typeof startReceiver>>;
let alertmanager: Awaited<ReturnType<typeof startReceiver>>;

const at = (iso: string) => mock.timers.setTime(Date.parse(iso));
const status = async () => JSON.parse((await get(`${mirror.url}/api/v1/repositories/sigstore`)).body.toString());
const item = (s: { items: { item: string; state: string }[] }, name: string) => s.items.find((i) => i.item === name)!;
async function metric(name: string, labels: string): Promise<number | undefined> {
  const text = (await get(`${mirror.url}/metrics`)).body.toString();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

before(async () => {
  mock.timers.enable({ apis: ['Date'], now: FIXTURE_NOW });
  upstream = await startUpstreamServer(FIXTURE);
  generic = await startReceiver();
  alertmanager = await startReceiver();
  config = testConfig([{ upstream: upstream.url, anchor: `${FIXTURE}/1.root.json` }], {
    sync: { onStart: false },
    adminToken: TOKEN,
    alerts: { webhooks: [{ url: generic.url }, { url: alertmanager.url, format: 'alertmanager' }] },
  });
  mirror = await startMirror(config, { evaluateIntervalMs: 3_600_000, webhooks: { attempts: 3, backoffMs: 20 } });
});
after(async () => {
  await mirror.close();
  await Promise.all([upstream.close(), generic.close(), alertmanager.close()]);
  mock.timers.reset();
});

describe('expiry states, metrics and webhooks as the timestamp runs down', () => {
  test('2026-08-22: everything ok, nothing sent; the first fill records history without paging', async () => {
    const [r] = await mirror.syncAll();
    assert.equal(r.outcome, 'updated');
    await mirror.notifier.drain();
    const s = await status();
    assert.equal(s.state, 'ok');
    assert.equal(item(s, 'role:timestamp').state, 'ok');
    assert.equal(generic.received.length, 0);
    // Roots 1..15 replayed as history: rotation events at info severity.
    const events = JSON.parse((await get(`${mirror.url}/api/v1/repositories/sigstore/events?kind=root-rotation&limit=1000`)).body.toString()).events;
    assert.ok(events.length > 0 && events.every((e: { severity: string; data: { initial: boolean } }) => e.severity === 'info' && e.data.initial));
    assert.equal(await metric('tuf_mirror_role_expires_timestamp_seconds', 'role="timestamp"'), Date.parse('2026-08-28T19:25:56Z') / 1000);
    assert.equal(await metric('tuf_mirror_role_version', 'role="timestamp"'), 762);
    assert.equal(await metric('tuf_mirror_role_version', 'role="registry.npmjs.org"'), 8);
    assert.equal(await metric('tuf_mirror_watch_state', 'item="role:timestamp"'), 0);
  });

  test('2026-08-26 (2d 19h left): warning, exactly one webhook per receiver, however often it is checked', async () => {
    at('2026-08-26T00:00:00Z');
    assert.equal((await mirror.syncAll())[0].outcome, 'unchanged');
    for (let i = 0; i < 3; i++) mirror.watcher.watch(config.repositories[0]);
    await mirror.notifier.drain();
    const s = await status();
    assert.equal(item(s, 'role:timestamp').state, 'warning');
    assert.equal(s.state, 'warning');
    assert.equal(generic.received.length, 1);
    const body = generic.received[0].body as Record<string, unknown>;
    assert.equal(body.kind, 'state-change');
    assert.equal(body.item, 'role:timestamp');
    assert.equal(body.state, 'warning');
    assert.equal(body.previousState, 'ok');
    assert.equal(body.deadline, '2026-08-28T19:25:56Z');
    assert.equal(alertmanager.received.length, 1);
    const [am] = alertmanager.received[0].body as { labels: Record<string, string>; annotations: Record<string, string>; startsAt: string; endsAt: string }[];
    assert.deepEqual(am.labels, { alertname: 'TufMirrorRoleExpiry', repository: 'sigstore', item: 'role:timestamp', severity: 'warning', role: 'timestamp' });
    assert.match(am.annotations.summary, /timestamp v762 expires in 2d 19h/);
    assert.equal(await metric('tuf_mirror_watch_state', 'item="role:timestamp"'), 1);
    const ready = JSON.parse((await get(`${mirror.url}/readyz`)).body.toString());
    assert.deepEqual([ready.ready, ready.degraded, ready.state], [true, true, 'warning']);
  });

  test('2026-08-27 (1d 19h left): critical, one more webhook', async () => {
    at('2026-08-27T00:00:00Z');
    await mirror.syncAll();
    await mirror.notifier.drain();
    assert.equal(item(await status(), 'role:timestamp').state, 'critical');
    assert.equal(generic.received.length, 2);
    assert.equal((generic.received[1].body as { state: string }).state, 'critical');
    assert.equal((generic.received[1].body as { severity: string }).severity, 'critical');
  });

  test('2026-08-29: the upstream copy expired too; the mirror keeps serving and says precisely what expired when', async () => {
    at('2026-08-29T00:00:00Z');
    const [r] = await mirror.syncAll();
    assert.equal(r.outcome, 'failed');
    assert.equal(r.error.code, 'EXPIRED_METADATA');
    assert.equal(r.error.role, 'timestamp');
    await mirror.notifier.drain();
    const s = await status();
    const ts = item(s, 'role:timestamp') as unknown as { state: string; message: string };
    assert.equal(ts.state, 'expired');
    assert.equal(ts.message, 'timestamp v762 EXPIRED 4h 34m ago (2026-08-28T19:25:56Z)');
    assert.match(r.error.message, /^timestamp v762 expired 2026-08-28T19:25:56Z/);
    assert.equal(s.state, 'expired');
    assert.equal((await get(`${mirror.url}/timestamp.json`)).status, 200, 'still served');
    const ready = await get(`${mirror.url}/readyz`);
    assert.equal(ready.status, 200, 'ready while anything is servable');
    assert.equal(JSON.parse(ready.body.toString()).degraded, true);
    const sent = generic.received.map((r) => r.body as { item: string; state: string }).map((b) => `${b.item} ${b.state}`);
    assert.ok(sent.includes('role:timestamp expired'), sent.join(', '));
    assert.ok(sent.includes('sync critical'), 'a sync failing for two days is critical too');
    assert.equal(await metric('tuf_mirror_watch_state', 'item="role:timestamp"'), 3);
  });

  test('a sync that cannot reach a slow or dead receiver is not held up', async () => {
    at('2026-08-22T12:00:00Z'); // valid again: the timestamp state resolves, which notifies
    generic.hold();
    const before = generic.received.length;
    const [r] = await mirror.syncAll();
    assert.equal(r.outcome, 'unchanged');
    // The sync has returned while the receiver still holds the deliveries open: the timestamp
    // and the sync freshness (critical after the failed syncs) both resolve.
    for (let i = 0; i < 100 && generic.received.length < before + 2; i++) await new Promise((res) => setTimeout(res, 10));
    const resolved = generic.received.slice(before).map((r) => r.body as { item: string; state: string });
    assert.deepEqual(resolved.map((b) => `${b.item} ${b.state}`).sort(), ['role:timestamp resolved', 'sync resolved']);
    generic.release();
    await mirror.notifier.drain();
    const [am] = alertmanager.received.at(-1)!.body as { endsAt: string; startsAt: string }[];
    assert.equal(am.endsAt, am.startsAt, 'a resolution ends the Alertmanager alert');
  });
});

test('the shipped alert rules parse and use only metrics the mirror exports', async () => {
  const rules = YAML.parse(fs.readFileSync(path.join(packageRoot(), 'deploy/prometheus/tuf-mirror-rules.yaml'), 'utf8'));
  const exported = new Set(
    (await get(`${mirror.url}/metrics`)).body
      .toString()
      .split('\n')
      .filter((l) => l.startsWith('# TYPE '))
      .map((l) => l.split(' ')[2]),
  );
  const used = new Set<string>();
  for (const rule of rules.groups[0].rules) for (const m of String(rule.expr).matchAll(/tuf_mirror_\w+/g)) used.add(m[0]);
  assert.ok(used.size >= 5);
  for (const name of used) assert.ok(exported.has(name), `${name} is exported`);
});

describe('admin: sync now', () => {
  test('needs the bearer token', async () => {
    const url = `${mirror.url}/api/v1/repositories/sigstore/sync`;
    assert.equal((await fetch(url, { method: 'POST' })).status, 401);
    assert.equal((await fetch(url, { method: 'POST', headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status, 401);
    const ok = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 200);
    const body = (await ok.json()) as { outcome: string; generation: number };
    assert.equal(body.outcome, 'unchanged');
    assert.equal(body.generation, 1);
    assert.equal((await fetch(`${mirror.url}/api/v1/repositories/nope/sync`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })).status, 404);
  });

  test('answers the failure with a status that says whose fault it is', async () => {
    at('2026-08-29T00:00:00Z');
    const res = await fetch(`${mirror.url}/api/v1/repositories/sigstore/sync`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 422);
    const body = (await res.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'EXPIRED_METADATA');
    upstream.override('timestamp.json', { status: 503, times: 1 });
    const down = await fetch(`${mirror.url}/api/v1/repositories/sigstore/sync`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(down.status, 502);
  });
});

describe('never two syncs of one repository at once', () => {
  test('while another process holds the sync lock, a sync answers SYNC_IN_PROGRESS and the API 409', async () => {
    at('2026-08-22T12:00:00Z');
    // Another process's lock, heartbeating now.
    mirror.store.acquireSyncLock('sigstore', 'other-host:1234:abcd', 60_000);
    try {
      const [r] = await mirror.syncAll();
      assert.equal(r.outcome, 'failed');
      assert.equal(r.error.code, 'SYNC_IN_PROGRESS');
      assert.equal(r.runId, null, 'no run is recorded for a sync that did not start');
      const res = await fetch(`${mirror.url}/api/v1/repositories/sigstore/sync`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(res.status, 409);
    } finally {
      mirror.store.releaseSyncLock('sigstore', 'other-host:1234:abcd');
    }
    assert.equal((await mirror.syncAll())[0].outcome, 'unchanged');
  });

  test('concurrent calls in one process share one run', async () => {
    const before = upstream.requests.length;
    const [a, b] = await Promise.all([mirror.syncAll(), mirror.syncAll()]);
    assert.equal(a[0].runId, b[0].runId);
    assert.equal(upstream.requests.length - before, 2, 'one run: the next root and the timestamp');
  });
});
