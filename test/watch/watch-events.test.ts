/** Trust-material change events, webhook retries against a failing receiver, request metrics, admin disabled. */
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Service } from '../../server/service';
import { get, startMirror, testConfig } from '../helpers/mirror';
import { startReceiver } from '../helpers/receiver';
import { TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';
import { waitFor } from '../helpers/wait';

// Real keys with their real log ids: a trusted root that loads (the compatibility gate checks it).
const newKey = (): Buffer => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
const [OLD_KEY, NEW_KEY] = [newKey(), newKey()];
const idOf = (der: Buffer): string => crypto.createHash('sha256').update(der).digest('base64');
const log = (url: string, der: Buffer, start: string, end?: string) => ({
  baseUrl: url,
  hashAlgorithm: 'SHA2_256',
  publicKey: { rawBytes: der.toString('base64'), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start, ...(end ? { end } : {}) } },
  logId: { keyId: idOf(der) },
});
const trustedRoot = (tlogs: unknown[]) =>
  JSON.stringify({ mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs, certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] }) + '\n';

const repo = new TestRepository();
repo.addTarget('trusted_root.json', trustedRoot([log('https://rekor.example', OLD_KEY, '2021-01-01T00:00:00Z')]));
repo.publish();

let upstream: UpstreamServer;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let mirror: Service;
before(async () => {
  upstream = await startUpstreamServer(() => repo.files());
  receiver = await startReceiver();
  mirror = await startMirror(testConfig([{ upstream: upstream.url, anchor: repo.rootBytes(1) }], { alerts: { webhooks: [{ url: receiver.url }] } }), {
    webhooks: { attempts: 4, backoffMs: 10 },
  });
  assert.equal((await mirror.syncAll())[0].outcome, 'updated');
});
after(async () => {
  await mirror.close();
  await Promise.all([upstream.close(), receiver.close()]);
});

test('a new transparency log and a retired one in trusted_root.json make one trusted-root-change event', async () => {
  repo.addTarget(
    'trusted_root.json',
    trustedRoot([log('https://rekor.example', OLD_KEY, '2021-01-01T00:00:00Z', '2026-01-01T00:00:00Z'), log('https://log2.rekor.example', NEW_KEY, '2025-09-01T00:00:00Z')]),
  );
  repo.publish();
  receiver.setStatus(500); // the receiver fails at first: deliveries are retried
  const seen = receiver.received.length;
  assert.equal((await mirror.syncAll())[0].outcome, 'updated');
  await waitFor(() => Promise.resolve(receiver.received.length > seen || undefined), 'the first delivery, answered 500');
  receiver.setStatus(200);
  await mirror.notifier.drain();

  const { events } = JSON.parse((await get(`${mirror.url}/api/v1/repositories/sigstore/events?kind=trusted-root-change`)).body.toString());
  assert.equal(events.length, 1);
  const data = events[0].data;
  assert.deepEqual(
    data.added.map((e: { id: string }) => e.id),
    [idOf(NEW_KEY)],
  );
  assert.deepEqual(data.removed, []);
  assert.deepEqual(data.changed, [
    { kind: 'tlogs', id: idOf(OLD_KEY), url: 'https://rekor.example', from: { start: '2021-01-01T00:00:00Z', end: null }, to: { start: '2021-01-01T00:00:00Z', end: '2026-01-01T00:00:00Z' } },
  ]);

  const deliveries = receiver.received.map((r) => r.body as { kind: string });
  assert.ok(deliveries.length >= 2, 'the failed attempt and the retry both reached the receiver');
  assert.ok(deliveries.every((d) => d.kind === 'trusted-root-change'));
  const stats = [...mirror.notifier.stats.values()][0];
  assert.equal(stats.delivered, 1);
  assert.ok(stats.retried >= 1);
});

test('file requests are counted and timed in /metrics', async () => {
  await get(`${mirror.url}/timestamp.json`);
  await get(`${mirror.url}/nope.json`);
  const text = (await get(`${mirror.url}/metrics`)).body.toString();
  assert.match(text, /tuf_mirror_http_requests_total\{repository="sigstore",status="200"\} [1-9]/);
  assert.match(text, /tuf_mirror_http_requests_total\{repository="sigstore",status="404"\} [1-9]/);
  assert.match(text, /tuf_mirror_http_request_duration_seconds_count\{repository="sigstore"\} [1-9]/);
  assert.match(text, /tuf_mirror_webhook_deliveries_total\{webhook="http:\/\/127\.0\.0\.1:\d+\/hook",outcome="delivered"\} 1/);
});

test('without an adminToken, admin endpoints are disabled (403), never open', async () => {
  const res = await fetch(`${mirror.url}/api/v1/repositories/sigstore/sync`, { method: 'POST', headers: { authorization: 'Bearer anything-at-all-here' } });
  assert.equal(res.status, 403);
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ADMIN_DISABLED');
});
