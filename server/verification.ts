import type { IncomingMessage, ServerResponse } from 'node:http';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Config } from '../config/config';
import type { Logger } from '../lib/log';
import type { Store } from '../store/store';
import { TRUSTED_ROOT_TARGET } from '../verifier/sources';
import { timestampVersionOf } from '../verifier/trust-root';
import { BODY_LIMITS, VERIFY_ROUTES, type VerifyEndpoint, type VerifyReply } from './api/verify';
import { bearerMatcher } from './auth';
import { refusal, type RequestErrorCode } from './http-errors';
import type { FileIndex } from './file-index';
import type { TrustSnapshot, WorkerRequest } from './verify-worker';

/** Heap of the verification worker: a body that slips past every bound costs this, not the process. */
export const WORKER_HEAP_MB = 128;
/** A caller has this long to send its body. */
const BODY_TIMEOUT_MS = 10_000;

export type Listener = 'public' | 'verification';

/**
 * The verification and admission endpoints, kept off the thread that serves TUF files:
 * authentication, the in-flight cap and the body cap are checked here, on the main thread, before
 * anything is parsed; the bytes then go to a worker thread (server/verify-worker.ts) with its
 * own heap, at a lower priority, which does the rest. A worker that dies (its heap exhausted)
 * fails the requests it held with 503 and is replaced; the process and its TUF files carry on.
 *
 * Who may call what: on the public listener every verification endpoint needs the bearer token
 * (verifier.token); without one configured they answer 403. With verifier.listen they move to
 * their own listener, where admission is open to whoever the NetworkPolicy lets in (the API server)
 * and /verify needs the token only if one is set.
 */
export class VerificationGate {
  private worker!: Worker;
  private readonly pending = new Map<number, (reply: VerifyReply) => void>();
  private nextId = 1;
  private inFlight = 0;
  private closing = false;
  private readonly tokenMatches: (authorization: string | undefined) => boolean;

  constructor(
    private readonly config: Config,
    private readonly index: FileIndex,
    private readonly store: Store,
    private readonly logger: Logger,
  ) {
    this.tokenMatches = bearerMatcher(config.verifier.token);
    this.spawn();
  }

  private spawn(): void {
    const worker = new Worker(path.join(__dirname, 'verify-worker.js'), { workerData: { config: this.config }, resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } });
    worker.on('message', (m: VerifyReply & { id: number }) => {
      const settle = this.pending.get(m.id);
      this.pending.delete(m.id);
      for (const l of m.log ?? []) this.logger[l.level](l.data, l.msg);
      settle?.({ status: m.status, body: m.body });
    });
    worker.on('error', (err) => this.logger.error({ err: err.message }, 'the verification worker failed'));
    worker.on('exit', (code) => {
      if (this.worker !== worker) return;
      for (const settle of this.pending.values()) settle(refusal('VERIFIER_RESTARTED', 'the verification worker stopped while answering; try again'));
      this.pending.clear();
      if (this.closing) return;
      this.logger.error({ code }, 'the verification worker stopped; starting a new one');
      this.spawn();
    });
    worker.unref();
    this.worker = worker;
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.worker.terminate();
  }

  /** Per repository, the trust snapshot of the generation last asked for: read once per generation. */
  private readonly snapshots = new Map<string, TrustSnapshot[number]>();

  /**
   * The trust roots the main thread serves right now, as the worker will use them: the timestamp
   * from the served tree, trusted_root.json as TUF's search resolves it in that generation
   * (hash-checked by the store), never a file read by its plain path.
   */
  private trust(): TrustSnapshot {
    return this.config.repositories.flatMap((r) => {
      const timestamp = this.index.lookup(r.name, 'timestamp.json');
      const generation = timestamp?.generationId ?? this.index.generationOf(r.name);
      if (generation === undefined) return [];
      let snapshot = this.snapshots.get(r.name);
      if (snapshot?.generation !== generation) {
        snapshot = { name: r.name, generation, timestampVersion: timestampVersionOf(timestamp?.body), trustedRoot: this.store.resolvedTarget(generation, TRUSTED_ROOT_TARGET)?.bytes };
        this.snapshots.set(r.name, snapshot);
      }
      return [snapshot];
    });
  }

  /** Answer the request if it is for a verification endpoint; false when it is not. */
  handle(req: IncomingMessage, res: ServerResponse, listener: Listener): boolean {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const endpoint = VERIFY_ROUTES.get(q < 0 ? url : url.slice(0, q));
    if (!endpoint) return false;
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      if (res.headersSent) return;
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
      res.end(JSON.stringify(body));
    };
    // Refused before its body was read: close the connection rather than parse a body nobody wants
    // (keep-alive would make this thread read every refused byte).
    const error = (code: RequestErrorCode, message: string, headers: Record<string, string> = {}): void => {
      const { status, body } = refusal(code, message);
      send(status, body, { connection: 'close', ...headers });
      res.once('finish', () => req.socket.destroy());
    };

    if (listener === 'public' && this.config.verifier.listen) {
      error('NOT_FOUND', 'verification is served on its own listener (verifier.listen)');
      return true;
    }
    if (req.method !== 'POST') {
      error('METHOD_NOT_ALLOWED', 'POST a JSON body', { allow: 'POST' });
      return true;
    }
    const needsToken = listener === 'public' || ((endpoint === 'verify' || endpoint === 'bundle') && this.config.verifier.token !== undefined);
    if (needsToken && !this.config.verifier.token) {
      error('VERIFY_DISABLED', 'verification on the public listener needs a token: set verifier.token (or TUF_MIRROR_VERIFY_TOKEN), or give verification its own listener (verifier.listen)');
      return true;
    }
    if (needsToken && !this.tokenMatches(req.headers.authorization)) {
      error('UNAUTHORIZED', 'a valid verify bearer token is required', { 'www-authenticate': 'Bearer realm="tuf-mirror-verify"' });
      return true;
    }
    if (this.inFlight >= this.config.verifier.maxInFlight) {
      error('TOO_MANY_REQUESTS', `${this.inFlight} verifications in flight, the most verifier.maxInFlight allows; try again shortly`, { 'retry-after': '1' });
      return true;
    }
    const limit = BODY_LIMITS[endpoint];
    if (Number(req.headers['content-length']) > limit) {
      // The body is not read: close the connection rather than drain it.
      error('TOO_LARGE', `body larger than the ${limit} bytes ${endpoint} accepts`);
      return true;
    }
    this.inFlight++;
    void this.run(req, endpoint, limit)
      .then((reply) => {
        if (reply.status !== 413 && reply.status !== 408) return send(reply.status, reply.body);
        // The rest of that body is not read.
        send(reply.status, reply.body, { connection: 'close' });
        res.once('finish', () => req.socket.destroy());
      })
      .finally(() => this.inFlight--);
    return true;
  }

  /** Read the body (at most `limit` bytes, within BODY_TIMEOUT_MS) and have the worker answer it. */
  private async run(req: IncomingMessage, endpoint: VerifyEndpoint, limit: number): Promise<VerifyReply> {
    const body = await new Promise<Buffer | VerifyReply>((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const timer = setTimeout(() => {
        resolve(refusal('TIMEOUT', `the body did not arrive within ${BODY_TIMEOUT_MS / 1000}s`, { field: 'body' }));
        req.destroy();
      }, BODY_TIMEOUT_MS);
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > limit) {
          clearTimeout(timer);
          resolve(refusal('TOO_LARGE', `body larger than the ${limit} bytes ${endpoint} accepts`, { field: 'body' }));
          req.pause();
        } else chunks.push(c);
      });
      req.on('end', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks));
      });
      req.on('error', () => {
        clearTimeout(timer);
        resolve(refusal('BAD_REQUEST', 'the body could not be read', { field: 'body' }));
      });
    });
    if (!Buffer.isBuffer(body)) return body;
    const id = this.nextId++;
    return new Promise<VerifyReply>((resolve) => {
      this.pending.set(id, resolve);
      const message: WorkerRequest = { id, endpoint, body, contentType: req.headers['content-type'], trust: this.trust() };
      this.worker.postMessage(message);
    });
  }
}
