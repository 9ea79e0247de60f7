/**
 * The Kubernetes API as refresh-cluster needs it, and no more: read one named object, apply one
 * (server-side apply, its own field manager), over HTTPS with the pod's service account token and
 * the cluster CA. Every request names the object in its URL, so RBAC with resourceNames decides
 * each one (server-side apply that creates an object is authorized as create of that name).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { z } from 'zod';
import { systemCode, TufMirrorError } from '../lib/errors';
import { apiGroupOf, describeObject, type ObjectRef } from '../trust/k8s';

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';
const MAX_BODY = 4 * 1024 * 1024;
const TIMEOUT_MS = 15_000;

export type KubeConnection = { server: string; tokenFile: string; caFile?: string };

/** In a pod: the API server's in-cluster address and the mounted service account. */
export function inClusterConnection(env: NodeJS.ProcessEnv = process.env): KubeConnection | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  if (!host) return undefined;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  return { server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`, tokenFile: `${SERVICE_ACCOUNT}/token`, caFile: `${SERVICE_ACCOUNT}/ca.crt` };
}

/** The code is the Status reason (Forbidden, NotFound, Invalid, Conflict …) or a transport error code. */
export class KubeError extends TufMirrorError {
  constructor(
    code: string,
    message: string,
    /** The API server's HTTP status; 0 when it did not answer. */
    readonly status = 0,
  ) {
    super(code, message);
  }
}

/** An object as the API returns it: only what the job reads is typed. */
export type LiveObject = { metadata?: { annotations?: Record<string, string>; resourceVersion?: string } };

function isLive(value: unknown): value is LiveObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `/api/v1/namespaces/kubewarden/configmaps/x`, `/apis/policy.sigstore.dev/v1alpha1/trustroots/x`. */
export function objectPath(o: ObjectRef): string {
  const group = apiGroupOf(o.apiVersion);
  const base = group ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`;
  return `${base}${o.namespace ? `/namespaces/${encodeURIComponent(o.namespace)}` : ''}/${o.resource}/${encodeURIComponent(o.name)}`;
}

const statusSchema = z.looseObject({ reason: z.string().optional(), message: z.string().optional() });

export class KubeClient {
  private readonly ca?: Buffer;
  private readonly token: string;

  constructor(private readonly connection: KubeConnection) {
    // Read once per run: a projected token is rotated by the kubelet, and a run lasts seconds.
    this.token = fs.readFileSync(connection.tokenFile, 'utf8').trim();
    if (connection.caFile) this.ca = fs.readFileSync(connection.caFile);
  }

  /** The object, or undefined when it does not exist. */
  async get(o: ObjectRef): Promise<LiveObject | undefined> {
    const r = await this.request('GET', objectPath(o));
    if (r.status === 404) return undefined;
    return this.answer(r, o, 'read');
  }

  /** Server-side apply of `body` (the whole object as the job wants its fields). */
  async apply(o: ObjectRef, body: unknown, fieldManager: string): Promise<LiveObject> {
    const q = new URLSearchParams({ fieldManager, force: 'true' });
    const r = await this.request('PATCH', `${objectPath(o)}?${q.toString()}`, 'application/apply-patch+yaml', JSON.stringify(body));
    return this.answer(r, o, 'apply');
  }

  private answer(r: { status: number; body: Buffer }, o: ObjectRef, what: string): LiveObject {
    let json: unknown;
    try {
      json = JSON.parse(r.body.toString('utf8'));
    } catch {
      json = undefined;
    }
    if (r.status >= 200 && r.status < 300 && isLive(json)) return json;
    // A metav1.Status says why; anything else is quoted.
    const status = statusSchema.safeParse(json);
    // An empty reason or message says nothing: fall back as for a missing one.
    const reason = status.success && status.data.reason ? status.data.reason : `HTTP ${r.status}`;
    const message = status.success && status.data.message ? status.data.message : r.body.toString('utf8').slice(0, 200);
    throw new KubeError(reason, `cannot ${what} ${describeObject(o)}: ${r.status} ${reason}: ${message}`, r.status);
  }

  private request(method: string, pathAndQuery: string, contentType?: string, body?: string): Promise<{ status: number; body: Buffer }> {
    const url = new URL(pathAndQuery, this.connection.server);
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = transport.request(
        url,
        {
          method,
          ...(this.ca ? { ca: this.ca } : {}),
          headers: {
            authorization: `Bearer ${this.token}`,
            accept: 'application/json',
            ...(contentType ? { 'content-type': contentType, 'content-length': Buffer.byteLength(body ?? '') } : {}),
          },
          timeout: TIMEOUT_MS,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_BODY) req.destroy(new KubeError('TooLarge', `the API server answered more than ${MAX_BODY} bytes`));
            else chunks.push(c);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new KubeError('Timeout', `the API server did not answer within ${TIMEOUT_MS / 1000}s`)));
      req.on('error', (err) => reject(err instanceof KubeError ? err : new KubeError(systemCode(err) ?? 'Unreachable', `cannot reach the API server ${this.connection.server}: ${err.message}`)));
      req.end(body);
    });
  }
}
