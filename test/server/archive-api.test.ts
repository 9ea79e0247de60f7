/**
 * POST /api/v1/repositories/<name>/import: admin only, streamed with a size cap, answered with the
 * import's outcome, and the new generation served by the time the answer arrives.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, mock, test } from 'node:test';
import type { Config } from '../../config/config';
import type { Service } from '../../server/service';
import { exportGeneration } from '../../sync/export';
import { alter, alterSigned } from '../helpers/archive';
import { FIXTURE, FIXTURE_NOW, get, readTree, startMirror, testConfig } from '../helpers/mirror';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const TOKEN = 'test-admin-token-0123456789abcdef';
const fixture = readTree(FIXTURE);
const mirrors: Service[] = [];
let upstream: UpstreamServer;
let archive: Buffer;

async function mirror(extra: Record<string, unknown> = {}, upstreamUrl = 'http://127.0.0.1:9/unused'): Promise<{ mirror: Service; config: Config }> {
  const config = testConfig([{ upstream: upstreamUrl, anchor: `${FIXTURE}/1.root.json` }], { adminToken: TOKEN, ...extra });
  // No periodic reload: an import must switch what is served by itself.
  const m = await startMirror(config, { reloadIntervalMs: 3_600_000 });
  mirrors.push(m);
  return { mirror: m, config };
}

type Body = NonNullable<RequestInit['body']>;
type Answer = { status: number; json: Record<string, any>; headers: Headers };

async function upload(m: Service, body: Body, { token = TOKEN, repository = 'sigstore', query = '' } = {}): Promise<Answer> {
  const res = await fetch(`${m.url}/api/v1/repositories/${repository}/import${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/gzip', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body,
    duplex: 'half',
  });
  return { status: res.status, json: (await res.json()) as Record<string, any>, headers: res.headers };
}

before(async () => {
  mock.timers.enable({ apis: ['Date'], now: FIXTURE_NOW });
  upstream = await startUpstreamServer(FIXTURE);
  const { mirror: source, config } = await mirror({}, upstream.url);
  assert.equal((await source.syncAll())[0].outcome, 'updated');
  archive = exportGeneration(source.store, config.repositories[0]).bytes;
});
after(async () => {
  await Promise.all(mirrors.map((m) => m.close()));
  await upstream.close();
  mock.timers.reset();
});

describe('POST /api/v1/repositories/<name>/import', () => {
  test('is disabled (403) without an admin token, and needs the right one (401)', async () => {
    const config = testConfig([{ upstream: 'http://127.0.0.1:9', anchor: `${FIXTURE}/1.root.json` }]);
    const open = await startMirror(config);
    mirrors.push(open);
    const disabled = await upload(open, archive);
    assert.equal(disabled.status, 403);
    assert.equal(disabled.json.error.code, 'ADMIN_DISABLED');

    const { mirror: guarded } = await mirror();
    const wrong = await upload(guarded, archive, { token: 'not-the-token-0123456789' });
    assert.equal(wrong.status, 401);
    assert.equal((await upload(guarded, archive, { token: '' })).status, 401);
    assert.equal(guarded.store.lastSyncRun('sigstore'), undefined, 'nothing ran');
  });

  test('answers 404 for an unknown repository', async () => {
    const { mirror: m } = await mirror();
    const res = await upload(m, archive, { repository: 'nope' });
    assert.equal(res.status, 404);
    assert.equal(res.json.error.code, 'NOT_FOUND');
  });

  test('imports a valid archive (200 updated), serving it before it answers; the same again is 200 unchanged', async () => {
    const { mirror: m } = await mirror();
    assert.equal((await get(`${m.url}/timestamp.json`)).status, 503);
    const res = await upload(m, archive);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.equal(res.json.outcome, 'updated');
    assert.equal(res.json.repository, 'sigstore');
    assert.equal(res.json.generation, 1);
    assert.deepEqual(
      res.json.roles.map((r: { role: string; version: number }) => `${r.role}@${r.version}`),
      ['root@15', 'timestamp@762', 'snapshot@165', 'targets@14', 'registry.npmjs.org@8'],
    );
    assert.equal(res.json.archive.bytes, archive.length);
    assert.match(res.json.archive.sha256, /^[0-9a-f]{64}$/);

    const ts = await get(`${m.url}/timestamp.json`);
    assert.equal(ts.status, 200);
    assert.ok(ts.body.equals(fixture.get('timestamp.json')!));
    assert.equal(ts.headers.get('x-tuf-mirror-generation'), '1');
    for (const [rel, bytes] of fixture) assert.ok((await get(`${m.url}/${rel}`)).body.equals(bytes), rel);

    const status = JSON.parse((await get(`${m.url}/api/v1/repositories/sigstore`)).body.toString()) as { lastSync: { source: string; outcome: string } };
    assert.equal(status.lastSync.outcome, 'updated');
    assert.match(status.lastSync.source, /^archive upload from \S+ \(sha256:[0-9a-f]{64}\)$/);

    const again = await upload(m, archive);
    assert.equal(again.status, 200);
    assert.equal(again.json.outcome, 'unchanged');
    assert.equal(again.json.generation, 1);
  });

  test('answers 400 for a body that is not a tar.gz, 422 with code and role for one that fails verification', async () => {
    const { mirror: m } = await mirror();
    const notGz = await upload(m, Buffer.from('{"hello":"world"}'));
    assert.equal(notGz.status, 400);
    assert.equal(notGz.json.outcome, 'failed');
    assert.equal(notGz.json.error.code, 'ARCHIVE_INVALID');

    const tampered = await alter(archive, (f) => f.set('timestamp.json', alterSigned(f.get('timestamp.json')!)), true);
    const bad = await upload(m, tampered);
    assert.equal(bad.status, 422);
    assert.deepEqual({ code: bad.json.error.code, role: bad.json.error.role }, { code: 'UNSIGNED_METADATA', role: 'timestamp' });
    assert.match(bad.json.error.message, /timestamp/);
    assert.equal(bad.json.generation, null, 'nothing served before, nothing now');

    const mismatch = await upload(m, await alter(archive, (f) => f.set('timestamp.json', alterSigned(f.get('timestamp.json')!)), false));
    assert.equal(mismatch.status, 422);
    assert.equal(mismatch.json.error.code, 'ARCHIVE_MANIFEST_MISMATCH');
    assert.equal((await get(`${m.url}/timestamp.json`)).status, 503);
  });

  test('answers 413 past import.maxBytes, announced or streamed, and keeps nothing', async () => {
    const { mirror: m } = await mirror({ import: { maxBytes: 4096 } });
    const announced = await upload(m, archive);
    assert.equal(announced.status, 413);
    assert.equal(announced.json.error.code, 'RESPONSE_TOO_LARGE');

    function* chunks(): Generator<Uint8Array> {
      for (let i = 0; i < archive.length; i += 1024) yield archive.subarray(i, i + 1024);
    }
    // A stream of unannounced length (fetch sends a sync iterable as its string form, not its chunks).
    const streamed = await upload(m, Readable.from(chunks()));
    assert.equal(streamed.status, 413);
    assert.equal(streamed.json.error.code, 'RESPONSE_TOO_LARGE');
    assert.equal(m.store.lastSyncRun('sigstore'), undefined, 'no run started');
    assert.equal((await get(`${m.url}/timestamp.json`)).status, 503);
  });

  test('?allowExpired=true is --allow-expired: expired metadata imported and marked', async () => {
    const { mirror: m } = await mirror();
    mock.timers.setTime(Date.parse('2026-09-01T00:00:00Z'));
    try {
      const rejected = await upload(m, archive);
      assert.equal(rejected.status, 422);
      assert.equal(rejected.json.error.code, 'EXPIRED_METADATA');
      assert.equal(rejected.json.error.role, 'timestamp');
      const accepted = await upload(m, archive, { query: '?allowExpired=true' });
      assert.equal(accepted.status, 200, JSON.stringify(accepted.json));
      assert.deepEqual(accepted.json.expiredMetadataAccepted, [{ role: 'timestamp', version: 762, expires: '2026-08-28T19:25:56Z' }]);
      const status = JSON.parse((await get(`${m.url}/api/v1/repositories/sigstore`)).body.toString()) as { generation: { expiredMetadataAccepted: unknown } };
      assert.deepEqual(status.generation.expiredMetadataAccepted, accepted.json.expiredMetadataAccepted);
    } finally {
      mock.timers.setTime(FIXTURE_NOW);
    }
  });

  test('answers 409 while a sync of the same repository runs, without joining it', async () => {
    const { mirror: m, config } = await mirror({}, upstream.url);
    upstream.override('timestamp.json', { delayMs: 300, times: 1 });
    const syncing = m.syncNow(config.repositories[0]);
    const res = await upload(m, archive);
    assert.equal(res.status, 409);
    assert.equal(res.json.error.code, 'SYNC_IN_PROGRESS');
    assert.equal((await syncing).outcome, 'updated', 'the sync went on undisturbed');
    assert.equal((await upload(m, archive)).json.outcome, 'unchanged', 'and the import works once it is done');
  });
});
