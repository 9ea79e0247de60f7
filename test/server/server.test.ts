/** The HTTP surface: exact bytes, caching headers, refusals of odd paths, health and the JSON API. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import { after, before, describe, mock, test } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { fileAnswerMetrics } from '../../server/metrics';
import type { Service } from '../../server/service';
import { FIXTURE, FIXTURE_NOW, get, readTree, startMirror, testConfig } from '../helpers/mirror';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const fixture = readTree(FIXTURE);
let upstream: UpstreamServer;
let mirror: Service;

/** Send a raw request, so that paths reach the server exactly as written (fetch normalizes them); the whole answer as latin1 text. */
function rawResponse(url: string, request: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => {
      socket.write(request);
    });
    let data = '';
    socket.on('data', (d) => (data += d.toString('latin1')));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
}

async function rawGet(url: string, path: string): Promise<number> {
  const data = await rawResponse(url, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1]);
}

before(async () => {
  mock.timers.enable({ apis: ['Date'], now: FIXTURE_NOW });
  upstream = await startUpstreamServer(FIXTURE);
  mirror = await startMirror(
    testConfig([
      { name: 'sigstore', upstream: upstream.url, anchor: `${FIXTURE}/1.root.json`, default: true },
      { name: 'staging', upstream: 'http://127.0.0.1:9', anchor: `${FIXTURE}/1.root.json` },
    ]),
  );
  const [result] = await mirror.syncAll();
  assert.equal(result.outcome, 'updated');
});
after(async () => {
  await mirror.close();
  await upstream.close();
  mock.timers.reset();
});

describe('TUF files', () => {
  test('ETag, Content-Type, Content-Length and Cache-Control fit each kind of file', async () => {
    const ts = await get(`${mirror.url}/timestamp.json`);
    assert.equal(ts.status, 200);
    assert.equal(ts.headers.get('content-type'), 'application/json');
    assert.equal(Number(ts.headers.get('content-length')), fixture.get('timestamp.json')!.length);
    assert.match(ts.headers.get('cache-control')!, /max-age=60/);
    assert.doesNotMatch(ts.headers.get('cache-control')!, /immutable/);
    assert.match(ts.headers.get('etag')!, /^"[0-9a-f]{64}"$/);

    const snap = await get(`${mirror.url}/165.snapshot.json`);
    assert.match(snap.headers.get('cache-control')!, /immutable/);
    const pem = await get(`${mirror.url}/targets/f989aa23def87c549404eadba767768d2a3c8d6d30a8b793f9f518a8eafd2cf5.fulcio_v1.crt.pem`);
    assert.equal(pem.status, 200);
    assert.equal(pem.headers.get('content-type'), 'application/x-pem-file');
    assert.match(pem.headers.get('cache-control')!, /immutable/);
  });

  test('If-None-Match answers 304, HEAD answers headers only', async () => {
    const first = await get(`${mirror.url}/sigstore/timestamp.json`);
    const etag = first.headers.get('etag')!;
    const again = await get(`${mirror.url}/sigstore/timestamp.json`, { 'if-none-match': etag });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
    assert.equal((await get(`${mirror.url}/timestamp.json`, { 'if-none-match': `W/${etag}, "other"` })).status, 304);
    assert.equal((await get(`${mirror.url}/timestamp.json`, { 'if-none-match': '"other"' })).status, 200);

    const head = await fetch(`${mirror.url}/timestamp.json`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers.get('content-length')), first.body.length);
    assert.equal((await head.arrayBuffer()).byteLength, 0);
  });

  test('anything not held is a 404; a repository without a generation is a 503', async () => {
    for (const p of ['/999.root.json', '/targets/nope.json', '/sigstore/nope', '/unknown-repo', '/sigstore']) {
      assert.equal((await get(mirror.url + p)).status, 404, p);
    }
    const staging = await get(`${mirror.url}/staging/timestamp.json`);
    assert.equal(staging.status, 503);
    assert.equal(staging.headers.get('retry-after'), '30');
  });

  test('traversal, encoded slashes, NUL bytes and dot segments are refused', async () => {
    const paths = [
      '/../../etc/passwd',
      '/targets/../timestamp.json',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/targets%2f..%2ftimestamp.json',
      '/targets%2Ftrusted_root.json',
      '/timestamp.json%00',
      '/%00',
      '/targets/..%5c..%5cetc',
      '/targets\\..\\timestamp.json',
      '/sigstore//timestamp.json',
      '/./timestamp.json',
      '/%zz',
    ];
    for (const p of paths) {
      const status = await rawGet(mirror.url, p);
      assert.ok(status === 400 || status === 404, `${p} → ${status}`);
    }
    assert.equal(await rawGet(mirror.url, '/targets%2ftrusted_root.json'), 400);
    assert.equal(await rawGet(mirror.url, '/timestamp.json?x=1'), 200);
  });

  test('each kind of answer carries exactly these header lines, in this order', async () => {
    const head = async (path: string, extra = ''): Promise<string> => {
      const data = await rawResponse(mirror.url, `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`);
      return data.slice(0, data.indexOf('\r\n\r\n') + 4).replace(/\r\nDate: [^\r]+/, '\r\nDate: *');
    };
    const body = fixture.get('timestamp.json')!;
    const etag = `"${createHash('sha256').update(body).digest('hex')}"`;
    const generation = String(mirror.index.generationOf('sigstore'));
    const file = `ETag: ${etag}\r\nCache-Control: public, max-age=60, must-revalidate\r\nX-TUF-Mirror-Generation: ${generation}\r\n`;
    const text = (length: number): string => `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${length}\r\nCache-Control: no-store\r\n`;
    const end = 'Date: *\r\nConnection: close\r\n\r\n';
    assert.equal(await head('/timestamp.json'), `HTTP/1.1 200 OK\r\n${file}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n${end}`);
    assert.equal(await head('/timestamp.json', `If-None-Match: ${etag}\r\n`), `HTTP/1.1 304 Not Modified\r\n${file}${end}`);
    assert.equal(await head('/timestamp.json', `If-None-Match: "other"\r\nif-none-match: ${etag}\r\n`), `HTTP/1.1 304 Not Modified\r\n${file}${end}`);
    assert.equal(await head('/nope.json'), `HTTP/1.1 404 Not Found\r\n${text(10)}${end}`);
    assert.equal(await head('/%zz'), `HTTP/1.1 400 Bad Request\r\n${text(40)}${end}`);
    assert.equal(await head('/staging/timestamp.json'), `HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\n${text(52)}${end}`);
  });

  test('other methods are not served', async () => {
    const res = await fetch(`${mirror.url}/timestamp.json`, { method: 'POST' });
    assert.equal(res.status, 404);
  });
});

describe('health and API', () => {
  test('/healthz is up; /readyz is 503 until every repository holds a generation', async () => {
    assert.equal((await get(`${mirror.url}/healthz`)).status, 200);
    const ready = await get(`${mirror.url}/readyz`);
    assert.equal(ready.status, 503);
    const body = JSON.parse(ready.body.toString());
    assert.equal(body.ready, false);
    assert.deepEqual(body.generations, { sigstore: 1, staging: null });
  });

  test('/api/v1/repositories reports versions, expiry and the last sync', async () => {
    const { status, body } = await get(`${mirror.url}/api/v1/repositories/sigstore`);
    assert.equal(status, 200);
    const s = JSON.parse(body.toString());
    assert.equal(s.generation.id, 1);
    assert.equal(s.default, true);
    const timestamp = s.roles.find((r: { role: string }) => r.role === 'timestamp');
    assert.deepEqual([timestamp.version, timestamp.expires, timestamp.expired], [762, '2026-08-28T19:25:56Z', false]);
    assert.equal(timestamp.expiresInSeconds, (Date.parse('2026-08-28T19:25:56Z') - FIXTURE_NOW) / 1000);
    assert.equal(s.lastSync.outcome, 'updated');
    assert.equal(s.upstreamReachable, true);

    const all = JSON.parse((await get(`${mirror.url}/api/v1/repositories`)).body.toString());
    assert.deepEqual(
      all.repositories.map((r: { name: string }) => r.name),
      ['sigstore', 'staging'],
    );
    assert.equal(all.repositories[1].generation, null);
    assert.equal((await get(`${mirror.url}/api/v1/repositories/nope`)).status, 404);
    assert.equal((await get(`${mirror.url}/api/v1/nope`)).status, 404);
  });

  test('an unreachable upstream is reported, and what is held is still served', async () => {
    const results = await mirror.syncAll();
    const staging = results[1];
    assert.equal(staging.outcome, 'failed');
    assert.equal(staging.error.code, 'UPSTREAM_UNREACHABLE');
    const s = JSON.parse((await get(`${mirror.url}/api/v1/repositories/staging`)).body.toString());
    assert.equal(s.upstreamReachable, false);
    assert.equal(s.lastSync.error.code, 'UPSTREAM_UNREACHABLE');
    assert.equal((await get(`${mirror.url}/timestamp.json`)).status, 200);
  });
});

describe('metrics of the file path', () => {
  test('/metrics shows what prom-client Counter and Histogram would for the same answers', async () => {
    const ours = new Registry();
    const countAnswer = fileAnswerMetrics(ours);
    const reference = new Registry();
    const requests = new Counter({ name: 'tuf_mirror_http_requests_total', help: 'TUF file requests served, by repository and status', labelNames: ['repository', 'status'], registers: [reference] });
    const latency = new Histogram({
      name: 'tuf_mirror_http_request_duration_seconds',
      help: 'Time to answer a TUF file request',
      labelNames: ['repository'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25],
      registers: [reference],
    });
    const answer = (repository: string, status: number, seconds: number): void => {
      countAnswer(repository, status, seconds);
      requests.inc({ repository, status: String(status) });
      latency.observe({ repository }, seconds);
    };
    const same = async (): Promise<void> => {
      assert.equal(await ours.metrics(), await reference.metrics());
      assert.deepEqual(await ours.getMetricsAsJSON(), await reference.getMetricsAsJSON());
    };
    await same();
    // On a bound, between bounds, above the last one; statuses and repositories first seen in a mixed order.
    for (const [repository, status, seconds] of [
      ['sigstore', 200, 0.00004],
      ['none', 404, 0.0001],
      ['sigstore', 404, 0.00025],
      ['staging', 503, 0.3],
      ['sigstore', 200, 0.00021],
      ['none', 400, 0.05],
    ] as const) {
      answer(repository, status, seconds);
    }
    await same();
    for (let i = 0; i < 1000; i++) answer(i % 3 ? 'sigstore' : 'none', i % 7 ? 200 : 304, (i % 13) * 0.0007);
    await same();
  });
});
