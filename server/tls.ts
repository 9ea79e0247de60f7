/**
 * The certificate and key a listener serves: read and checked at start (a bad pair stops the
 * start with a ConfigError naming the file and the fix), then read again whenever the files
 * change, since cert-manager and similar rotate them in place while the service runs.
 */
import * as fs from 'node:fs';
import type * as https from 'node:https';
import * as tls from 'node:tls';
import { ConfigError } from '../config/config';
import type { Logger } from '../lib/log';
import { systemCode } from '../lib/errors';

export type TlsFiles = { certFile: string; keyFile: string };
type TlsPair = { cert: Buffer; key: Buffer };

/** `field` names the setting in messages: server.tls, verifier.listen.tls. */
function readPair(files: TlsFiles, field: string): TlsPair {
  const read = (which: 'certFile' | 'keyFile'): Buffer => {
    try {
      return fs.readFileSync(files[which]);
    } catch (err) {
      const code = systemCode(err) ?? String(err);
      throw new ConfigError('TLS_INVALID', `${field}: cannot read ${which} ${files[which]}: ${code} (point ${field}.certFile and keyFile at PEM files this user can read)`);
    }
  };
  return { cert: read('certFile'), key: read('keyFile') };
}

function check(files: TlsFiles, pair: TlsPair, field: string): TlsPair {
  try {
    tls.createSecureContext(pair); // a key that does not match the certificate fails here, clearly
  } catch (err) {
    throw new ConfigError('TLS_INVALID', `${field}: ${files.certFile} and ${files.keyFile} are not a certificate and its key (${(err as Error).message}): give a matching PEM pair`);
  }
  return pair;
}

/** The server options for `https.createServer`; a ConfigError (TLS_INVALID) when they cannot be used. */
export function loadTls(files: TlsFiles, field = 'server.tls'): https.ServerOptions {
  return check(files, readPair(files, field), field);
}

/**
 * Look at the files every `intervalMs`; when their bytes change and form a valid pair, the server
 * answers new connections with them. A pair caught half-rotated, or broken, is reported once and
 * the current certificate stays until the files are right. Returns a function that stops watching.
 */
export function watchTls(server: https.Server, files: TlsFiles, logger: Logger, intervalMs: number, field = 'server.tls'): () => void {
  let served = currentBytes(files);
  let refused: TlsPair | undefined;
  const same = (a: TlsPair, b: TlsPair | undefined): boolean => !!b && a.cert.equals(b.cert) && a.key.equals(b.key);
  const timer = setInterval(() => {
    const next = currentBytes(files);
    if (same(next, served) || same(next, refused)) return;
    try {
      check(files, next, field);
    } catch (err) {
      refused = next;
      logger.error({ field, err: (err as Error).message }, 'TLS files changed but are not a usable pair; still serving the previous certificate');
      return;
    }
    server.setSecureContext(next);
    served = next;
    refused = undefined;
    logger.info({ field, certFile: files.certFile }, 'TLS certificate reloaded');
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** The files as they are now; a missing one reads as empty (and fails the check). */
function currentBytes(files: TlsFiles): TlsPair {
  const read = (f: string): Buffer => {
    try {
      return fs.readFileSync(f);
    } catch {
      return Buffer.alloc(0);
    }
  };
  return { cert: read(files.certFile), key: read(files.keyFile) };
}
