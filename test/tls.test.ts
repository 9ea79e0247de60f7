/** HTTPS: what Kubernetes requires of an admission webhook, and what a TLS-only site wants. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../config/config';
import { startMirror, tempDir, testConfig } from './helpers/mirror';
import { TestRepository } from './helpers/tuf-repo';
import { startUpstreamServer } from './helpers/upstream-server';

function certificate(dir: string): { cert: string; key: string } {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'tls.key', '-out', 'tls.pem', '-days', '30', '-subj', '/CN=tuf-mirror', '-addext', 'subjectAltName=IP:127.0.0.1'], { cwd: dir, stdio: 'ignore' });
  return { cert: path.join(dir, 'tls.pem'), key: path.join(dir, 'tls.key') };
}

function httpsGet(url: string, ca: Buffer): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks) }));
      })
      .on('error', reject);
  });
}

test('with server.tls the mirror serves HTTPS: health, API and TUF files, verified against the certificate', async () => {
  const repo = new TestRepository();
  repo.addTarget('trusted_root.json', '{}\n');
  repo.publish();
  const upstream = await startUpstreamServer(() => repo.files());
  const dir = tempDir();
  const { cert, key } = certificate(dir);
  const mirror = await startMirror(testConfig([{ upstream: upstream.url, anchor: repo.rootBytes(1) }], { server: { host: '127.0.0.1', port: 0, tls: { certFile: cert, keyFile: key } } }));
  try {
    assert.match(mirror.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    await mirror.syncAll();
    const ca = fs.readFileSync(cert);
    assert.equal((await httpsGet(`${mirror.url}/healthz`, ca)).status, 200);
    assert.ok((await httpsGet(`${mirror.url}/timestamp.json`, ca)).body.equals(repo.files().get('timestamp.json')!));
    // Without the certificate's CA, a client refuses the connection.
    await assert.rejects(httpsGet(`${mirror.url}/healthz`, Buffer.from('')), /self-signed|unable to verify|certificate/i);
  } finally {
    await mirror.close();
    await upstream.close();
  }
});

test('a missing file or a key that does not match the certificate is a configuration error', async () => {
  const dir = tempDir();
  const { cert } = certificate(dir);
  const other = certificate(tempDir());
  const bad = (tls: object) => startMirror(testConfig([{ upstream: 'http://127.0.0.1:9', anchor: new TestRepository().rootBytes(1) }], { server: { host: '127.0.0.1', port: 0, tls } }));
  await assert.rejects(bad({ certFile: cert, keyFile: path.join(dir, 'nope.key') }), (e: unknown) => e instanceof ConfigError && /cannot read .*nope\.key: ENOENT/.test(e.message));
  await assert.rejects(bad({ certFile: cert, keyFile: other.key }), (e: unknown) => e instanceof ConfigError && /server\.tls/.test(e.message));
});
