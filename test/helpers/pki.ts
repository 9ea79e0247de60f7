import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './mirror';

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
