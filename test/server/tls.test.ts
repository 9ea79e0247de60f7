/** HTTPS: what Kubernetes requires of an admission webhook, and what a TLS-only site wants. */
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { test } from 'node:test';
import * as tls from 'node:tls';
import pino from 'pino';
import { ConfigError } from '../../config/config';
import { startService } from '../../server/service';
import { startMirror, tempDir, testConfig } from '../helpers/mirror';
import { loopbackCertificate } from '../helpers/pki';
import { TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer } from '../../testing/upstream-server';
import { waitFor } from '../helpers/wait';

function certificate(dir: string): { cert: string; key: string } {
  return loopbackCertificate(dir, { key: 'tls.key', cert: 'tls.pem' }, { commonName: 'tuf-mirror', days: 30 });
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
  await assert.rejects(bad({ certFile: cert, keyFile: other.key }), (e: unknown) => e instanceof ConfigError && e.message.includes('server.tls'));
});

/** The certificate a TLS server presents now, as its sha256 fingerprint. */
function servedFingerprint(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: hostname, port: Number(port), rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

test('rotated certificate files are served without a restart; a half-written pair keeps the old one', async () => {
  const dir = tempDir();
  const first = certificate(dir);
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
  const config = testConfig([{ upstream: 'http://127.0.0.1:9', anchor: new TestRepository().rootBytes(1) }], {
    server: { host: '127.0.0.1', port: 0, tls: { certFile: first.cert, keyFile: first.key } },
  });
  const mirror = await startService(config, logger, { reloadIntervalMs: 50, schedule: false });
  try {
    const fingerprintOf = (file: string): string => new crypto.X509Certificate(fs.readFileSync(file)).fingerprint256;
    const original = fingerprintOf(first.cert);
    assert.equal(await servedFingerprint(mirror.url), original);

    // cert-manager renews: new files in place (written aside and renamed, as kubelet's atomic writer does).
    const renewed = certificate(tempDir());
    fs.copyFileSync(renewed.key, `${first.key}.new`);
    fs.copyFileSync(renewed.cert, `${first.cert}.new`);
    fs.renameSync(`${first.key}.new`, first.key);
    fs.renameSync(`${first.cert}.new`, first.cert);
    await waitFor(async () => ((await servedFingerprint(mirror.url)) === fingerprintOf(renewed.cert) ? true : undefined), 'the renewed certificate to be served');
    assert.ok(lines.some((l) => l.includes('TLS certificate reloaded')));

    // A certificate without its key (caught mid-rotation): refused, said once, the renewed one stays.
    fs.copyFileSync(certificate(tempDir()).cert, first.cert);
    await waitFor(() => Promise.resolve(lines.some((l) => l.includes('not a usable pair')) ? true : undefined), 'the refusal to be logged');
    assert.equal(await servedFingerprint(mirror.url), fingerprintOf(renewed.cert));
    assert.notEqual(fingerprintOf(renewed.cert), original);
  } finally {
    await mirror.close();
  }
});
