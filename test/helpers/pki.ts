import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './mirror';

/**
 * A self-signed ECDSA P-256 certificate for 127.0.0.1 (subjectAltName IP:127.0.0.1), for a TLS
 * server on loopback: the key and certificate written to `files` in `dir` (paths returned), the
 * certificate also its own CA.
 */
export function loopbackCertificate(dir: string, files: { key: string; cert: string }, { commonName, days }: { commonName: string; days: number }): { key: string; cert: string } {
  const key = path.join(dir, files.key);
  const cert = path.join(dir, files.cert);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      String(days),
      '-subj',
      `/CN=${commonName}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return { key, cert };
}

/**
 * Certificates and log keys for a pretend private Sigstore instance, made with the openssl CLI
 * (node:crypto cannot issue certificates): a Fulcio root CA, a TSA certificate, Rekor and CT
 * log keys, all ECDSA P-256.
 */
export function makePki(dir = tempDir('tuf-mirror-pki-')) {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const selfSigned = (name: string, subject: string) => {
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '3650', '-subj', subject);
    return path.join(dir, `${name}.pem`);
  };
  const logKey = (name: string) => {
    openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`);
    openssl('ec', '-in', `${name}.key`, '-pubout', '-out', `${name}.pub`);
    return path.join(dir, `${name}.pub`);
  };
  return {
    dir,
    fulcio: selfSigned('fulcio', '/O=acme.example/CN=acme-fulcio'),
    tsa: selfSigned('tsa', '/O=acme.example/CN=acme-tsa'),
    rekor: logKey('rekor'),
    ctfe: logKey('ctfe'),
    logKey,
    read: (file: string) => fs.readFileSync(file, 'utf8'),
  };
}

/** Trust material for `origin init` from such a PKI: one of each, all valid from 2026-01-01. */
export function pkiMaterial(pki: ReturnType<typeof makePki>) {
  const validFor = { start: '2026-01-01T00:00:00Z' };
  return {
    certificateAuthorities: [{ url: 'https://fulcio.acme.example', chainPem: pki.read(pki.fulcio), validFor }],
    tlogs: [{ url: 'https://rekor.acme.example', keyPem: pki.read(pki.rekor), validFor }],
    ctlogs: [{ url: 'https://ctfe.acme.example', keyPem: pki.read(pki.ctfe), validFor }],
    timestampAuthorities: [{ url: 'https://tsa.acme.example/api/v1/timestamp', chainPem: pki.read(pki.tsa), validFor }],
    oidcIssuers: [{ url: 'https://oidc.acme.example', validFor }],
  };
}
