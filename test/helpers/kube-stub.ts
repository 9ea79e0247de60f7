/**
 * A stand-in Kubernetes API server for refresh-cluster — a MOCK: no kube-apiserver can run here
 * (Debian does not package it). It is the only one in these tests, and it does what the job relies
 * on the way the real one does:
 * - HTTPS with its own certificate (the job must trust the CA file it is given), bearer tokens;
 * - RBAC from real Role/ClusterRole/binding objects: get and patch of an existing object, and
 *   server-side apply that creates one (authorized as create of that name), checked against
 *   resourceNames; anything else is 403 Forbidden;
 * - GET of a named object (404 NotFound Status when absent, or for a resource type not installed);
 * - PATCH application/apply-patch+yaml: the body must name the object of the URL (400), the result
 *   is validated by `validate` (422 Invalid, as the API server's schema validation), and the
 *   applied fields replace the manager's (labels and annotations merged, as server-side apply keeps
 *   other managers' keys);
 * - every request recorded, with the verb RBAC saw.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { tempDir } from './mirror';
import { loopbackCertificate } from './pki';

type Obj = Record<string, any>;

export type StubResource = { group: string; version: string; resource: string; kind: string; namespaced: boolean };
export const STUB_RESOURCES: StubResource[] = [
  { group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap', namespaced: true },
  { group: '', version: 'v1', resource: 'secrets', kind: 'Secret', namespaced: true },
  { group: 'policy.sigstore.dev', version: 'v1alpha1', resource: 'trustroots', kind: 'TrustRoot', namespaced: false },
  { group: 'policy.sigstore.dev', version: 'v1beta1', resource: 'clusterimagepolicies', kind: 'ClusterImagePolicy', namespaced: false },
  { group: 'kyverno.io', version: 'v1', resource: 'clusterpolicies', kind: 'ClusterPolicy', namespaced: false },
  { group: 'policies.kyverno.io', version: 'v1', resource: 'imagevalidatingpolicies', kind: 'ImageValidatingPolicy', namespaced: false },
  { group: 'policies.kubewarden.io', version: 'v1', resource: 'policyservers', kind: 'PolicyServer', namespaced: false },
];

export type RecordedRequest = { method: string; path: string; verb: string; status: number; contentType?: string; body?: Obj; object: string };

export type KubeStub = {
  url: string;
  caFile: string;
  tokenFile: string;
  requests: RecordedRequest[];
  /** The object as the store holds it, by `resource/[namespace/]name`. */
  object(resource: string, name: string, namespace?: string): Obj | undefined;
  /** Create an object as someone else did (an installation, an operator). */
  seed(resource: string, object: Obj): void;
  /** Make every request answer `status` (an API server in trouble), or back to normal. */
  failWith(status: number | undefined): void;
  close(): Promise<void>;
};

const keyOf = (resource: string, name: string, namespace?: string) => `${resource}/${namespace ? `${namespace}/` : ''}${name}`;

/** Does any role bound to the service account allow `verb` on this object? */
function allowed(rbac: Obj[], sa: { namespace: string; name: string }, verb: string, group: string, resource: string, namespace: string | undefined, name: string): boolean {
  const bound = (b: Obj) => (b.subjects ?? []).some((s: Obj) => s.kind === 'ServiceAccount' && s.name === sa.name && s.namespace === sa.namespace);
  const roles: Obj[] = [];
  for (const b of rbac.filter((o) => o.kind === 'ClusterRoleBinding' && bound(o))) roles.push(...rbac.filter((r) => r.kind === 'ClusterRole' && r.metadata.name === b.roleRef.name));
  for (const b of rbac.filter((o) => o.kind === 'RoleBinding' && bound(o) && o.metadata.namespace === namespace)) {
    roles.push(...rbac.filter((r) => r.kind === b.roleRef.kind && r.metadata.name === b.roleRef.name && (r.kind === 'ClusterRole' || r.metadata.namespace === namespace)));
  }
  return roles.some((r) =>
    (r.rules ?? []).some(
      (rule: Obj) => rule.apiGroups.includes(group) && rule.resources.includes(resource) && rule.verbs.includes(verb) && (!rule.resourceNames?.length || rule.resourceNames.includes(name)),
    ),
  );
}

function status(res: import('node:http').ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code }));
}

export async function startKubeStub(options: { rbac: Obj[]; serviceAccount: { namespace: string; name: string }; validate?: (o: Obj) => string[] }): Promise<KubeStub> {
  const dir = tempDir('tuf-mirror-kube-stub-');
  const { key: keyFile, cert: caFile } = loopbackCertificate(dir, { key: 'tls.key', cert: 'ca.crt' }, { commonName: 'kube-stub', days: 2 });
  const token = createHash('sha256').update(dir).digest('hex');
  fs.writeFileSync(path.join(dir, 'token'), `${token}\n`);
  const store = new Map<string, Obj>();
  const requests: RecordedRequest[] = [];
  let failing: number | undefined;
  let version = 1;

  const server = https.createServer({ key: fs.readFileSync(keyFile), cert: fs.readFileSync(caFile) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'https://stub');
      const record = (verb: string, code: number, object: string, body?: Obj) =>
        requests.push({
          method: req.method ?? '',
          path: url.pathname,
          verb,
          status: code,
          object,
          ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}),
          ...(body ? { body } : {}),
        });
      if (req.headers.authorization !== `Bearer ${token}`) {
        record('-', 401, url.pathname);
        return status(res, 401, 'Unauthorized', 'Unauthorized');
      }
      // /api/v1[/namespaces/ns]/resource/name  or  /apis/group/version[/namespaces/ns]/resource/name
      const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))(?:\/namespaces\/([^/]+))?\/([^/]+)\/([^/]+)$/.exec(url.pathname);
      // A group that took no part in the match is undefined, which RegExpExecArray's type leaves out.
      const group = (i: number): string | undefined => m?.[i];
      const def = m && STUB_RESOURCES.find((r) => r.group === (group(2) ?? '') && r.version === (group(1) ?? group(3)) && r.resource === m[5]);
      if (!m || !!m[4] !== def?.namespaced) {
        record('-', 404, url.pathname);
        return status(res, 404, 'NotFound', `the server could not find the requested resource ${url.pathname}`);
      }
      const [namespace, name] = [m[4] ? decodeURIComponent(m[4]) : undefined, decodeURIComponent(m[6])];
      const key = keyOf(def.resource, name, namespace);
      const existing = store.get(key);
      const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Obj) : undefined;
      const verb = req.method === 'GET' ? 'get' : req.method === 'PATCH' ? (existing ? 'patch' : 'create') : (req.method ?? '').toLowerCase();
      if (failing) {
        record(verb, failing, key, body);
        return status(res, failing, 'InternalError', 'the stub answers every request with an error');
      }
      if (!allowed(options.rbac, options.serviceAccount, verb, def.group, def.resource, namespace, name)) {
        record(verb, 403, key, body);
        return status(
          res,
          403,
          'Forbidden',
          `${def.resource} "${name}" is forbidden: User "system:serviceaccount:${options.serviceAccount.namespace}:${options.serviceAccount.name}" cannot ${verb} resource "${def.resource}"`,
        );
      }
      if (req.method === 'GET') {
        record(verb, existing ? 200 : 404, key);
        if (!existing) return status(res, 404, 'NotFound', `${def.resource} "${name}" not found`);
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify(existing));
      }
      if (req.method !== 'PATCH' || req.headers['content-type'] !== 'application/apply-patch+yaml' || !body) {
        record(verb, 415, key, body);
        return status(res, 415, 'UnsupportedMediaType', 'the stub takes server-side apply patches only');
      }
      const apiVersion = def.group ? `${def.group}/${def.version}` : def.version;
      if (body.apiVersion !== apiVersion || body.kind !== def.kind || body.metadata?.name !== name || (body.metadata?.namespace ?? undefined) !== namespace) {
        record(verb, 400, key, body);
        return status(res, 400, 'BadRequest', 'the object in the body does not match the URL');
      }
      const meta = existing?.metadata ?? {};
      const merged: Obj = {
        ...(existing ?? {}),
        ...body,
        metadata: {
          ...meta,
          ...body.metadata,
          labels: { ...(meta.labels ?? {}), ...(body.metadata.labels ?? {}) },
          annotations: { ...(meta.annotations ?? {}), ...(body.metadata.annotations ?? {}) },
          uid: meta.uid ?? createHash('sha256').update(key).digest('hex').slice(0, 32),
          resourceVersion: String(++version),
        },
        // A patch of an object someone else created keeps the fields the job does not set.
        ...(existing?.spec && body.spec ? { spec: { ...existing.spec, ...body.spec } } : {}),
      };
      const problems = options.validate?.(merged) ?? [];
      if (problems.length) {
        record(verb, 422, key, body);
        return status(res, 422, 'Invalid', problems.join('; '));
      }
      store.set(key, merged);
      record(verb, existing ? 200 : 201, key, body);
      res.writeHead(existing ? 200 : 201, { 'content-type': 'application/json' });
      res.end(JSON.stringify(merged));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    caFile,
    tokenFile: path.join(dir, 'token'),
    requests,
    object: (resource, name, namespace) => store.get(keyOf(resource, name, namespace)),
    seed: (resource, object) => store.set(keyOf(resource, object.metadata.name, object.metadata.namespace), { ...object, metadata: { ...object.metadata, resourceVersion: String(++version) } }),
    failWith: (code) => {
      failing = code;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
