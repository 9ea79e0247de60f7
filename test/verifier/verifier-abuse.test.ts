/**
 * The verification endpoints as an anonymous caller or a hostile registry would use them, each
 * reproduction of issue 14 as a test: a policy built to exhaust the heap, a signature manifest
 * that lists gigabytes, an AdmissionReview naming a thousand images, a flood of verifications,
 * policies varied to dodge the cache, a registry redirecting to an internal service or sending
 * its credentials' token realm elsewhere, malformed paths and pod specs.
 *
 * Registries here are small hostile stubs (testing/oci-stub.ts) on 127.0.0.1: a real
 * registry will not redirect to another service, name a foreign token realm, or list layers it
 * does not hold. The heap test runs the real CLI in a child process with the Deployment's heap
 * cap, so a crash is observed as a crash rather than taking the test runner down.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { packageRoot } from '../../lib/paths';
import type { Service } from '../../server/service';
import { startMirror, tempDir, testConfig } from '../helpers/mirror';
import { cosignSigManifest, OciStub, sha256 } from '../../testing/oci-stub';
import { TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const F = path.join(packageRoot(), 'test', 'fixtures', 'cosign-image-signatures');
const KEY1 = fs.readFileSync(path.join(F, 'cosign.pub'), 'utf8');
const keyPolicy = (extra: object = {}): object => ({ apiVersion: 'v1', allOf: [{ kind: 'pubKey', key: KEY1, ...extra }] });
const TOKEN = 'verify-token-0123456789abcdef';

/** A plain HTTP server standing in for an internal service: it counts what reaches it. */
async function internalService(): Promise<{ host: string; requests: http.IncomingHttpHeaders[]; close(): Promise<void> }> {
  const requests: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.headers);
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'SECRET internal answer: db password hunter2' }] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

const tuf = new TestRepository();
tuf.addTarget('trusted_root.json', fs.readFileSync(path.join(F, 'oci-attestation-empty-image', 'trusted_root_pgi.json')));
tuf.publish();

describe('a hostile policy cannot take the process down or hold up TUF files', () => {
  let upstream: UpstreamServer;
  let child: ChildProcess;
  let publicUrl = '';
  let verifyUrl = '';
  const exited: { code: number | null; signal: string | null }[] = [];
  /** How to close what before() started, in order: before() can stop half-way, and after() closes only what it got to. */
  const closers: (() => Promise<unknown>)[] = [];
  before(async () => {
    upstream = await startUpstreamServer(() => tuf.files());
    closers.push(() => upstream.close());
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'anchor.json'), tuf.rootBytes(1));
    fs.writeFileSync(
      path.join(dir, 'config.yaml'),
      YAML.stringify({
        dataDir: './data',
        server: { host: '127.0.0.1', port: 0 },
        sync: { onStart: true },
        repositories: [{ name: 'sigstore', upstream: upstream.url, trustAnchor: './anchor.json' }],
        verifier: { listen: { host: '127.0.0.1', port: 0 }, token: TOKEN },
      }),
    );
    // As deploy/kubernetes runs it: a 192 MB heap.
    child = spawn(process.execPath, ['--max-old-space-size=192', path.join(packageRoot(), 'dist', 'cli', 'main.js'), 'serve', '--config', path.join(dir, 'config.yaml')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    closers.push(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
    });
    child.once('exit', (code, signal) => exited.push({ code, signal }));
    let log = '';
    child.stderr!.on('data', (c: Buffer) => (log += c.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (c: Buffer) => {
        log += c.toString();
        for (const line of log.split('\n')) {
          const m = /"url":"([^"]+)".*"msg":"tuf-mirror listening"/.exec(line);
          if (m) publicUrl = m[1];
          const v = /"url":"([^"]+)".*"msg":"verification listening"/.exec(line);
          if (v) verifyUrl = v[1];
        }
        if (publicUrl && verifyUrl) resolve();
      });
      child.once('exit', () => reject(new Error(`serve exited:\n${log}`)));
    });
    for (;;) {
      const r = await fetch(`${publicUrl}/readyz`);
      if (r.status === 200) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  after(async () => {
    for (const close of closers.reverse()) await close();
  });

  test('400 KB of nested brackets as a policy (as text, as JSON nesting): refused before parsing; timestamp.json answered throughout; the process lives', async () => {
    const nested = '['.repeat(200_000) + ']'.repeat(200_000);
    const bodies = [JSON.stringify({ image: 'registry.local/acme/app:1', policy: nested }), `{"image":"registry.local/acme/app:1","policy":${'['.repeat(100_000)}${']'.repeat(100_000)}}`];
    const timestamps: Promise<number>[] = [];
    const hostile: Promise<{ status: number; code?: string }>[] = [];
    for (let i = 0; i < 6; i++) {
      for (const body of bodies) {
        hostile.push(
          fetch(`${verifyUrl}/api/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body }).then(async (r) => ({
            status: r.status,
            code: ((await r.json().catch(() => ({}))) as { error?: { code?: string } }).error?.code,
          })),
        );
      }
      for (let j = 0; j < 5; j++) timestamps.push(fetch(`${publicUrl}/timestamp.json`).then((r) => r.status));
    }
    const answers = await Promise.all(hostile);
    for (const a of answers) {
      assert.ok(a.status === 400 || a.status === 413, JSON.stringify(a));
      assert.ok(['TOO_DEEP', 'TOO_LARGE', 'BAD_POLICY'].includes(a.code ?? ''), JSON.stringify(a));
    }
    assert.deepEqual(new Set(await Promise.all(timestamps)), new Set([200]));
    assert.equal((await fetch(`${publicUrl}/healthz`)).status, 200);
    assert.deepEqual(exited, [], 'the process is alive');
  });
});

describe('bounded work per caller', () => {
  const stub = new OciStub();
  let internal: Awaited<ReturnType<typeof internalService>>;
  let evil: OciStub;
  let upstream: UpstreamServer;
  let mirror: Service;
  const BIG = Buffer.alloc(16 * 1024 * 1024, 0x61); // 16 MiB: not a simple-signing payload
  const BUDGET = 256 * 1024;
  let digest = '';
  let url = '';
  /** How to close what before() started, in order: before() can stop half-way, and after() closes only what it got to. */
  const closers: (() => Promise<unknown>)[] = [];

  before(async () => {
    await stub.start();
    closers.push(() => stub.close());
    internal = await internalService();
    closers.push(() => internal.close());
    evil = await new OciStub().start();
    closers.push(() => evil.close());
    upstream = await startUpstreamServer(() => tuf.files());
    closers.push(() => upstream.close());
    stub.addBlob('{}');
    const image = (seed: string): object => ({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', size: 2, digest: sha256('{}') },
      layers: [],
      annotations: { seed },
    });
    // 40 layers of 16 MiB each, listed honestly in the .sig manifest.
    digest = stub.addManifest('acme/forty', image('forty'), ['1']);
    const big = stub.addBlob(BIG);
    stub.addManifest(
      'acme/forty',
      cosignSigManifest(Array.from({ length: 40 }, () => ({ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', size: BIG.length, digest: big, annotations: {} }))),
      [`${digest.replace(':', '-')}.sig`],
    );
    // 40 layers of 60 KiB each: under the payload cap one by one, over the byte budget together.
    const mid = Buffer.alloc(60 * 1024, 0x62);
    const midDigest = stub.addBlob(mid);
    const d2 = stub.addManifest('acme/many', image('many'), ['1']);
    stub.addManifest(
      'acme/many',
      cosignSigManifest(Array.from({ length: 40 }, () => ({ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', size: mid.length, digest: midDigest, annotations: {} }))),
      [`${d2.replace(':', '-')}.sig`],
    );
    // A plain signed-looking image for cache and concurrency tests.
    stub.addManifest('acme/plain', image('plain'), ['1']);
    stub.addManifest('acme/slow', image('slow'), ['1']);
    stub.misbehave(/^\/v2\/acme\/slow\//, { delayMs: 1500 });
    // A registry that redirects to an internal service on another port of 127.0.0.1.
    stub.misbehave(/^\/v2\/acme\/redirect\//, { status: 302, headers: { location: `http://${internal.host}/v2/acme/redirect/manifests/1` }, body: '' });
    // A registry whose token realm is on another host.
    evil.auth = { username: 'ci', password: 'registry-secret' };
    evil.addManifest('acme/app', image('evil'), ['1']);

    mirror = await startMirror(
      testConfig([{ upstream: upstream.url, anchor: tuf.rootBytes(1) }], {
        verifier: {
          listen: { host: '127.0.0.1', port: 0 },
          registries: [
            { host: stub.host, insecure: true, allowPrivateAddresses: true },
            { host: evil.host, insecure: true, allowPrivateAddresses: true, username: 'ci', password: 'registry-secret' },
          ],
          requestTimeoutSeconds: 5,
          maxInFlight: 4,
          maxBytesPerVerification: BUDGET,
          admission: { maxImages: 16, policies: [{ image: `${stub.host}/**`, policy: keyPolicy(), mode: 'enforce' }] },
        },
      }),
    );
    closers.push(() => mirror.close());
    const [sync] = await mirror.syncAll();
    assert.equal(sync.outcome, 'updated');
    url = mirror.verifierUrl!;
  });
  after(async () => {
    for (const close of closers.reverse()) await close();
  });

  const post = async (p: string, body: unknown, base = url): Promise<{ status: number; json: any; text: string; headers: Headers }> => {
    const res = await fetch(`${base}${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text, headers: res.headers };
  };

  test('a .sig manifest listing 40 x 16 MiB layers: no layer larger than a payload is fetched', async () => {
    const before = stub.blobBytesSent;
    const r = await post('/api/v1/verify', { image: `${stub.host}/acme/forty:1`, policy: keyPolicy() });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.verified, false);
    assert.ok(
      r.json.reasons.some((x: string) => /layer 0: .*larger than the \d+ bytes a signature payload may have/.test(x)),
      JSON.stringify(r.json.reasons),
    );
    assert.equal(stub.blobBytesSent - before, 0, 'no blob bytes fetched');
  });

  test('40 layers of 60 KiB: the verification stops at its byte budget', async () => {
    const before = stub.blobBytesSent;
    const r = await post('/api/v1/verify', { image: `${stub.host}/acme/many:1`, policy: keyPolicy() });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.verified, false);
    assert.ok(
      r.json.reasons.some((x: string) => x.includes('byte budget')),
      JSON.stringify(r.json.reasons),
    );
    assert.ok(stub.blobBytesSent - before <= BUDGET + 60 * 1024, `${stub.blobBytesSent - before} bytes fetched, budget ${BUDGET}`);
  });

  test('an AdmissionReview naming 1000 images is denied at once: no registry request', async () => {
    const before = stub.requests.length;
    const containers = Array.from({ length: 1000 }, (_, i) => ({ name: `c${i}`, image: `${stub.host}/acme/img${i}:1` }));
    const r = await post('/api/v1/admission', {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: 'u-1000', kind: { kind: 'Pod' }, operation: 'CREATE', object: { spec: { containers } } },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.response.allowed, false);
    assert.match(r.json.response.status.message, /names 1000 images, more than the 16 one review may have \(verifier\.admission\.maxImages\)/);
    assert.equal(stub.requests.length - before, 0);
  });

  test('more verifications in flight than verifier.maxInFlight: 429 with Retry-After, the rest answered', async () => {
    const all = await Promise.all(Array.from({ length: 10 }, (_, i) => post('/api/v1/verify', { image: `${stub.host}/acme/slow:1`, policy: keyPolicy({ annotations: { n: String(i) } }) })));
    const refused = all.filter((r) => r.status === 429);
    assert.ok(refused.length >= 6, all.map((r) => r.status).join(','));
    for (const r of refused) {
      assert.equal(r.json.error.code, 'TOO_MANY_REQUESTS');
      assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
    }
    assert.ok(all.some((r) => r.status === 200));
  });

  test('policies varied one character at a time do not bypass the cache: the signatures are fetched once', async () => {
    const before = stub.requests.length;
    for (let i = 0; i < 12; i++) {
      const r = await post('/api/v1/verify', { image: `${stub.host}/acme/plain:1`, policy: keyPolicy({ owner: `owner ${i}` }) });
      assert.equal(r.status, 200, r.text);
    }
    const sigLookups = stub.requests.slice(before).filter((p) => p.endsWith('.sig'));
    assert.equal(sigLookups.length, 1, stub.requests.slice(before).join('\n'));
    // Annotations in another order are the same policy: one answer from the cache.
    const cache = stub.requests.length;
    await post('/api/v1/verify', { image: `${stub.host}/acme/plain@${String(stub.manifests.get('acme/plain')!.keys().next().value)}`, policy: keyPolicy({ annotations: { a: '1', b: '2' } }) });
    await post('/api/v1/verify', { image: `${stub.host}/acme/plain@${String(stub.manifests.get('acme/plain')!.keys().next().value)}`, policy: keyPolicy({ annotations: { b: '2', a: '1' } }) });
    assert.equal(stub.requests.length - cache, 1, 'the second is answered from the cache');
  });

  test('a redirect to another port of 127.0.0.1 (an internal service): not followed, nothing of it echoed', async () => {
    const r = await post('/api/v1/verify', { image: `${stub.host}/acme/redirect:1`, policy: keyPolicy() });
    assert.equal(r.status, 502, r.text);
    assert.equal(r.json.error.code, 'REGISTRY_BAD_RESPONSE');
    assert.match(r.json.error.message, /redirected to .*, which is neither .* nor one of its allowedHosts/);
    assert.equal(internal.requests.length, 0, 'no request reached the internal service');
    assert.doesNotMatch(r.text, /SECRET|hunter2/);
  });

  test("a token realm on another host: refused before any request, the registry's credentials sent nowhere", async () => {
    const thief = await internalService();
    try {
      evil.misbehave(/^\/v2\//, { status: 401, headers: { 'www-authenticate': `Bearer realm="http://${thief.host}/token",service="x"` } });
      const r = await post('/api/v1/verify', { image: `${evil.host}/acme/app:1`, policy: keyPolicy() });
      assert.equal(r.status, 502, r.text);
      assert.equal(r.json.error.code, 'REGISTRY_AUTH_FAILED');
      assert.equal(thief.requests.length, 0, 'the foreign realm got no request');
      assert.doesNotMatch(r.text, /registry-secret|SECRET/);
    } finally {
      evil.overrides.shift();
      await thief.close();
    }
  });

  test('an error body from the registry is never echoed: its OCI error code and status only', async () => {
    stub.misbehave(/^\/v2\/acme\/err\//, { status: 500, body: JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'SECRET internal detail' }] }) });
    const r = await post('/api/v1/verify', { image: `${stub.host}/acme/err:1`, policy: keyPolicy() });
    assert.equal(r.status, 502);
    assert.equal(r.json.error.registryStatus, 500);
    assert.equal(r.json.error.registryCode, 'UNKNOWN');
    assert.doesNotMatch(r.text, /SECRET/);
  });

  test('a registry on a private address is refused unless its entry allows it', async () => {
    const config = testConfig([{ upstream: upstream.url, anchor: tuf.rootBytes(1) }], {
      verifier: {
        listen: { host: '127.0.0.1', port: 0 },
        registries: [
          { host: stub.host, insecure: true },
          { host: `localhost:${stub.host.split(':')[1]}`, insecure: true },
        ],
      },
    });
    const strict = await startMirror(config);
    try {
      await strict.syncAll();
      const before = stub.requests.length;
      for (const image of [`${stub.host}/acme/plain:1`, `localhost:${stub.host.split(':')[1]}/acme/plain:1`]) {
        const r = await post('/api/v1/verify', { image, policy: keyPolicy() }, strict.verifierUrl);
        assert.equal(r.status, 403, r.text);
        assert.equal(r.json.error.code, 'REGISTRY_ADDRESS_REFUSED');
        assert.match(r.json.error.message, /allowPrivateAddresses/);
      }
      assert.equal(stub.requests.length, before, 'no request reached it');
    } finally {
      await strict.close();
    }
  });

  test('malformed input is a 400 with a code: non-array containers, non-string images, bad percent-encoding', async () => {
    const review = (spec: object): object => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', kind: { kind: 'Pod' }, operation: 'CREATE', object: { spec } } });
    for (const spec of [{ containers: { a: 1 } }, { containers: 7 }, { initContainers: 'x' }, { containers: [{ name: 'a', image: 42 }] }]) {
      const r = await post('/api/v1/admission', review(spec));
      assert.equal(r.status, 400, `${JSON.stringify(spec)}: ${r.text}`);
      assert.equal(r.json.error.code, 'BAD_REQUEST');
      assert.match(r.json.error.field, /^request\.object\.spec\./);
    }
    for (const p of ['/api/v1/repositories/%E0%A4%A', '/api/v1/repositories/%ZZ/events', '/api/v1/repositories/%E0%A4%A/trustroot']) {
      const r = await fetch(`${mirror.url}${p}`);
      assert.equal(r.status, 400, p);
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'BAD_REQUEST');
    }
  });
});
