/**
 * The listeners `serve` opens: the public one (TUF files, the app, and verification unless it has
 * a listener of its own) and, when verifier.listen asks for it, the verification one. TLS files
 * are read before anything else opens and read again when they change.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { ConfigError, type Config } from '../config/config';
import { systemCode } from '../lib/errors';
import type { Logger } from '../lib/log';
import { loadTls, watchTls } from './tls';

type TlsOptions = ReturnType<typeof loadTls>;
export type ListenerTls = { public?: TlsOptions; verification?: TlsOptions };

/** Before anything is opened: a bad certificate stops the start cleanly. */
export function loadListenerTls(config: Config): ListenerTls {
  const verifyListen = config.verifier.listen;
  return {
    public: config.server.tls && loadTls(config.server.tls),
    verification: verifyListen?.tls && loadTls(verifyListen.tls, 'verifier.listen.tls'),
  };
}

export type RequestListeners = { public: http.RequestListener; verification: http.RequestListener };

export class Listeners {
  readonly server: http.Server;
  readonly verifyServer: http.Server | undefined;
  url = '';
  verifierUrl: string | undefined;

  constructor(
    private readonly config: Config,
    private readonly tls: ListenerTls,
    handlers: RequestListeners,
  ) {
    this.server = tls.public ? https.createServer(tls.public, handlers.public) : http.createServer(handlers.public);
    this.server.keepAliveTimeout = 65_000;
    const verifyListen = config.verifier.listen;
    this.verifyServer = verifyListen && (tls.verification ? https.createServer(tls.verification, handlers.verification) : http.createServer(handlers.verification));
  }

  /** Listen on each; a port in use, privileged or not of this machine is a ConfigError saying so. */
  async listen(logger: Logger): Promise<void> {
    const { server, verifyServer, config } = this;
    const verifyListen = config.verifier.listen;
    this.url = await listen(server, config.server.port, config.server.host, Boolean(this.tls.public));
    if (verifyServer && verifyListen) {
      this.verifierUrl = await listen(verifyServer, verifyListen.port, verifyListen.host, Boolean(this.tls.verification));
      logger.info({ url: this.verifierUrl, host: verifyListen.host, tls: Boolean(this.tls.verification) }, 'verification listening');
    }
  }

  /** The port the public listener got (the configured one, or the one port 0 picked). */
  port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Serve rotated certificates without a restart; returns what stops the watches. */
  watchTls(logger: Logger, intervalMs: number): () => void {
    const { server, verifyServer, config } = this;
    const verifyListen = config.verifier.listen;
    const stops = [
      config.server.tls && isHttps(server) ? watchTls(server, config.server.tls, logger, intervalMs) : undefined,
      verifyListen?.tls && isHttps(verifyServer) ? watchTls(verifyServer, verifyListen.tls, logger, intervalMs, 'verifier.listen.tls') : undefined,
    ];
    return () => stops.forEach((stop) => stop?.());
  }

  /** Close both, dropping kept-alive connections. */
  async close(): Promise<void> {
    const servers = [this.server, this.verifyServer].filter((srv) => srv !== undefined);
    await Promise.all(
      servers.map(
        (srv) =>
          new Promise<void>((resolve) => {
            srv.close(() => resolve());
            srv.closeAllConnections();
          }),
      ),
    );
  }
}

// `instanceof` of the generic class narrows to https.Server<any, any>; this keeps its default types.
const isHttps = (server: http.Server | undefined): server is https.Server => server instanceof https.Server;

/** Listen, and the URL a client on this host reaches the listener at. */
async function listen(server: http.Server, port: number, host: string, secure: boolean): Promise<string> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    throw cannotListen(host, port, err);
  }
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${secure ? 'https' : 'http'}://${shown === '0.0.0.0' || shown === '[::]' ? '127.0.0.1' : shown}:${address.port}`;
}

/** A listen that failed, as the one line an operator can act on; anything unexpected as it is. */
function cannotListen(host: string, port: number, err: unknown): unknown {
  const code = systemCode(err);
  const fixes: Record<string, string> = {
    EADDRINUSE: 'another process listens there: stop it, or pick another port with --port or server.port',
    EACCES: 'not allowed to listen there: use a port above 1023, or give the process the right to bind it',
    EADDRNOTAVAIL: 'not an address of this machine: give one of its addresses with --host or server.host (0.0.0.0: all of them)',
  };
  if (!code || !fixes[code]) return err;
  return new ConfigError('CANNOT_LISTEN', `cannot listen on ${host}:${port} (${code}): ${fixes[code]}`);
}
