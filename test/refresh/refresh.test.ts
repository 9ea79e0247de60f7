/**
 * `tuf-mirror refresh-cluster`, the CronJob of deploy/kubernetes/refresh, run as its own process
 * against real mirrors (two replicas that share nothing, syncing a signed test repository that
 * carries public-good's trusted_root.json) and, for the Kubernetes API, the one MOCK of these
 * tests: test/helpers/kube-stub.ts (no kube-apiserver can run here), which enforces the RBAC
 * `--rbac` generates, validates what is applied against the consumers' CRDs, and records every
 * request. Driven through a recorded sequence of mirror generations — first apply, nothing new, a
 * timestamp-only re-signing seen by one replica then both, a trusted_root.json change — then a
 * bridge across an air gap (its own sequence), a rollback offered by a mirror restored from an
 * old archive, a hostile proxy renaming the object, and the mirror's watch judging the reports.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { after, before, describe, mock, test } from 'node:test';
import YAML from 'yaml';
import { resignOrigin } from '../../origin/origin';
import { packageRoot } from '../../lib/paths';
import { silentLogger } from '../../lib/log';
import { parseJob } from '../../refresh/job';
import { rbacFor } from '../../refresh/rbac';
import { sourceUrls, type RefreshResult } from '../../refresh/refresh';
import type { Service } from '../../server/service';
import { exportGeneration } from '../../sync/export';
import { importArchive } from '../../sync/import';
import { configuredSyncOptions } from '../../sync/sync';
import { carry, initSite, SITE, startConnected, startGap, type Connected, type Gap } from '../helpers/bridge';
import { DEFAULT_POLICY_SERVER, objectProblems } from '../helpers/crds';
import { ISSUER, SUBJECT } from '../helpers/identity';
import { startKubeStub, type KubeStub } from '../helpers/kube-stub';
import { FIXTURE, FIXTURE_NOW, get, ifStarted, startMirror, tempDir, testConfig } from '../helpers/mirror';
import { TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const CLI = path.join(packageRoot(), 'dist', 'cli', 'main.js');
const PUBLIC_URL = 'http://tuf-mirror.tuf-mirror.svc:8080';
const REPORT_TOKEN = 'a-report-token-for-the-refresh-tests';
const SA = { namespace: 'tuf-mirror', name: 'tuf-mirror-refresh' };
const TRUSTED_ROOT = fs.readFileSync(path.join(FIXTURE, 'targets', '6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66.trusted_root.json'));
const SIGNING_CONFIG = fs.readFileSync(path.join(FIXTURE, 'targets', '9711a6d5375706957a4859af31c5866a4474f81f0544f9f4b76c9c4f4c8a539c.signing_config.v0.2.json'));
type Obj = Record<string, any>;

/** public-good's trusted_root.json with one more Rekor log (ECDSA, logId the sha256 of its key, the newest). */
function withNewRekor(): Buffer {
  const der = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'der', type: 'spki' });
  const root = JSON.parse(TRUSTED_ROOT.toString('utf8'));
  root.tlogs.push({
    baseUrl: 'https://rekor2.test.example',
    hashAlgorithm: 'SHA2_256',
    publicKey: { rawBytes: der.toString('base64'), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: '2026-08-01T00:00:00Z' } },
    logId: { keyId: createHash('sha256').update(der).digest('base64') },
  });
  return Buffer.from(JSON.stringify(root, null, 2) + '\n');
}

const IDENTITY = { issuer: ISSUER, subjects: [SUBJECT], images: ['registry.example.com/team/**'] };
const PREFIX = { issuer: ISSUER, subjectUrlPrefixes: ['https://github.com/sigstore-conformance'] };
/** Every kind of object the job keeps fresh, in four namespaces and cluster scope. */
const OUTPUTS = [
  { format: 'remote' },
  { format: 'repository', name: 'tuf-mirror-sigstore-offline' },
  { format: 'cluster-image-policy', ...IDENTITY },
  { format: 'policy-controller-root-configmap' },
  { format: 'kubewarden-configmap' },
  { format: 'kubewarden-verification-config', ...PREFIX },
  { format: 'kubewarden-policy-server', ...PREFIX },
  { format: 'kyverno-cluster-policy', ...IDENTITY },
  { format: 'kyverno-keys-configmap' },
  { format: 'flux-secret' },
];

type Run = { status: number; result?: RefreshResult; stdout: string; stderr: string };

/** The job as the CronJob runs it: its own process, the job file, the report token in its environment. */
function refresh(jobFile: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve) =>
    execFile(process.execPath, [CLI, 'refresh-cluster', '--job', jobFile, '--json', ...args], { env: { ...process.env, TUF_MIRROR_REPORT_TOKEN: REPORT_TOKEN } }, (err, stdout, stderr) => {
      let result: RefreshResult | undefined;
      try {
        result = JSON.parse(stdout) as RefreshResult;
      } catch {
        result = undefined;
      }
      resolve({ status: err ? Number(err.code) : 0, result, stdout, stderr });
    }),
  );
}

const outcomes = (r: Run): Record<string, string> =>
  Object.fromEntries((r.result?.outputs ?? []).map((o) => [`${o.object.kind} ${o.object.namespace ? `${o.object.namespace}/` : ''}${o.object.name}`, o.outcome]));
/** The objects a stretch of the stub's log wrote to. */
const writes = (stub: KubeStub, from: number): string[] =>
  stub.requests
    .slice(from)
    .filter((r) => r.method !== 'GET')
    .map((r) => r.object)
    .sort();

function writeJob(dir: string, stub: KubeStub, job: Record<string, unknown>): string {
  const file = path.join(dir, `job-${Math.random().toString(36).slice(2)}.yaml`);
  fs.writeFileSync(file, YAML.stringify({ ...job, kubernetes: { server: stub.url, tokenFile: stub.tokenFile, caFile: stub.caFile } }));
  return file;
}

describe('a mirror with two replicas, through a recorded sequence of generations', () => {
  let repo: TestRepository;
  let upstream: UpstreamServer;
  let a: Service;
  let b: Service;
  let stub: KubeStub;
  let jobFile: string;
  let dir: string;
  let oldArchive: Buffer;
  let aConfig: ReturnType<typeof testConfig>;
  let bConfig: ReturnType<typeof testConfig>;
  const mirrorConfig = () => testConfig([{ upstream: upstream.url, anchor: repo.rootBytes(1) }], { server: { host: '127.0.0.1', port: 0, publicUrl: PUBLIC_URL }, reportToken: REPORT_TOKEN });

  before(async () => {
    mock.timers.enable({ apis: ['Date'], now: FIXTURE_NOW });
    dir = tempDir('tuf-mirror-refresh-');
    repo = new TestRepository();
    repo.addTarget('trusted_root.json', TRUSTED_ROOT);
    repo.addTarget('signing_config.v0.2.json', SIGNING_CONFIG);
    repo.publish();
    upstream = await startUpstreamServer(() => repo.files());
    aConfig = mirrorConfig();
    bConfig = mirrorConfig();
    a = await startMirror(aConfig);
    b = await startMirror(bConfig);
    for (const m of [a, b]) assert.equal((await m.syncAll())[0].outcome, 'updated');
    // Kept for step 6: the state of generation 1, as a mirror restored from an old archive would hold it.
    oldArchive = exportGeneration(a.store, aConfig.repositories[0]).bytes;
    const job = { mirror: a.url, replicas: { urls: [a.url, b.url] }, repository: 'sigstore', cluster: 'prod-1', outputs: OUTPUTS };
    const parsed = parseJob(job, 'job.yaml');
    stub = await startKubeStub({ rbac: rbacFor(parsed, SA), serviceAccount: SA, validate: objectProblems });
    jobFile = writeJob(dir, stub, job);
    // What the installations created, and objects of someone else's the job must never touch.
    stub.seed('policyservers', structuredClone(DEFAULT_POLICY_SERVER));
    stub.seed('trustroots', { apiVersion: 'policy.sigstore.dev/v1alpha1', kind: 'TrustRoot', metadata: { name: 'someone-else' }, spec: { remote: { mirror: 'https://elsewhere', root: 'e30=' } } });
    stub.seed('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kubewarden-controller-config', namespace: 'kubewarden' }, data: { x: 'y' } });
  });
  after(async () => {
    await ifStarted(a)?.close();
    await ifStarted(b)?.close();
    await ifStarted(upstream)?.close();
    await ifStarted(stub)?.close();
    mock.timers.reset();
  });

  test('1. the first run creates every object, valid as the API server takes it, named by its content, and reports to both replicas', async () => {
    const r = await refresh(jobFile);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.deepEqual(new Set(Object.values(outcomes(r))), new Set(['applied']), JSON.stringify(r.result?.outputs, null, 1));
    assert.deepEqual(
      r.result!.reports.map((d) => d.ok),
      [true, true],
    );
    // Each object as the mirror hands it out, plus the digest the job compares next time.
    const remote = stub.object('trustroots', 'tuf-mirror-sigstore')!;
    const served = await get(`${a.url}/api/v1/repositories/sigstore/trustroot?format=remote`);
    assert.equal(remote.metadata.annotations['tuf-mirror.dev/content-sha256'], served.headers.get('x-tuf-mirror-content-sha256'));
    assert.deepEqual(remote.spec, YAML.parse(served.body.toString()).spec);
    assert.equal(remote.metadata.annotations['tuf-mirror.dev/generation'], '1');
    const offline = stub.object('trustroots', 'tuf-mirror-sigstore-offline')!;
    assert.equal(
      offline.metadata.annotations['tuf-mirror.dev/expires'],
      (await get(`${a.url}/api/v1/repositories/sigstore/trustroot?format=repository&name=tuf-mirror-sigstore-offline`)).headers.get('x-tuf-mirror-expires'),
    );
    const ps = stub.object('policyservers', 'default')!;
    assert.equal(ps.spec.image, DEFAULT_POLICY_SERVER.spec.image, "a patch: the installation's fields stay");
    assert.equal(ps.spec.sigstoreTrustConfig, 'tuf-mirror-sigstore-trust-config');
    // Created by server-side apply: authorized as create of that very name.
    assert.ok(stub.requests.some((q) => q.verb === 'create' && q.object === 'trustroots/tuf-mirror-sigstore' && q.contentType === 'application/apply-patch+yaml'));
    // Both replicas now know what prod-1 holds.
    for (const m of [a, b]) {
      const list = JSON.parse((await get(`${m.url}/api/v1/repositories/sigstore/cluster-reports`)).body.toString()).outputs as Obj[];
      assert.equal(list.length, OUTPUTS.length);
      assert.ok(
        list.every((o) => o.cluster === 'prod-1' && o.inSyncAt === o.reportedAt && o.state === 'ok'),
        JSON.stringify(list.map((o) => [o.object, o.state, o.message])),
      );
    }
  });

  test('2. nothing new: the run reads and writes nothing', async () => {
    const from = stub.requests.length;
    const r = await refresh(jobFile);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(new Set(Object.values(outcomes(r))), new Set(['unchanged']));
    assert.deepEqual(writes(stub, from), []);
    // --dry-run agrees: nothing lags.
    assert.equal((await refresh(jobFile, '--dry-run')).status, 0);
  });

  test('3. a timestamp-only re-signing seen by one replica: the mirrorFS TrustRoot waits for both; nothing else moves', async () => {
    repo.bumpTimestamp();
    assert.equal((await a.syncAll())[0].outcome, 'updated');
    const from = stub.requests.length;
    const r = await refresh(jobFile);
    assert.equal(r.status, 0, r.stderr);
    const o = outcomes(r);
    assert.equal(o['TrustRoot tuf-mirror-sigstore-offline'], 'waiting');
    assert.match(r.result!.outputs.find((x) => x.object.name === 'tuf-mirror-sigstore-offline')!.message!, /replicas do not agree/);
    assert.equal(Object.values(o).filter((x) => x === 'unchanged').length, OUTPUTS.length - 1, 'the rest is the same content on both replicas');
    assert.deepEqual(writes(stub, from), [], 'no write while the replicas disagree');
  });

  test('4. both replicas re-signed: only the mirrorFS TrustRoot is applied', async () => {
    assert.equal((await b.syncAll())[0].outcome, 'updated');
    const from = stub.requests.length;
    const dry = await refresh(jobFile, '--dry-run');
    assert.equal(dry.status, 1, 'the cluster lags: --dry-run says so');
    assert.equal(outcomes(dry)['TrustRoot tuf-mirror-sigstore-offline'], 'would-apply');
    assert.deepEqual(writes(stub, from), []);
    const r = await refresh(jobFile);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(writes(stub, from), ['trustroots/tuf-mirror-sigstore-offline']);
    assert.equal(stub.object('trustroots', 'tuf-mirror-sigstore-offline')!.metadata.annotations['tuf-mirror.dev/generation'], '2');
  });

  test('5. a trusted_root.json change: every object that carries it is applied, and the remote TrustRoot is touched (its spec unchanged) so policy-controller reloads', async () => {
    const before5 = structuredClone(stub.object('trustroots', 'tuf-mirror-sigstore')!);
    const policyServer = structuredClone(stub.object('policyservers', 'default')!);
    const changed = withNewRekor();
    repo.addTarget('trusted_root.json', changed);
    repo.publish();
    for (const m of [a, b]) assert.equal((await m.syncAll())[0].outcome, 'updated');
    const from = stub.requests.length;
    const r = await refresh(jobFile);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(writes(stub, from), [
      'clusterimagepolicies/tuf-mirror-sigstore',
      'clusterpolicies/tuf-mirror-sigstore',
      'configmaps/kubewarden/tuf-mirror-sigstore-trust-config',
      'configmaps/kyverno/tuf-mirror-sigstore-kyverno-keys',
      'policyservers/default',
      'secrets/flux-system/tuf-mirror-sigstore-trusted-root',
      'trustroots/tuf-mirror-sigstore',
      'trustroots/tuf-mirror-sigstore-offline',
    ]);
    // The nudge: same root, same mirror, a new trusted-root annotation → the controller reconciles.
    const after5 = stub.object('trustroots', 'tuf-mirror-sigstore')!;
    assert.deepEqual(after5.spec, before5.spec);
    assert.notEqual(after5.metadata.annotations['tuf-mirror.dev/trusted-root-sha256'], before5.metadata.annotations['tuf-mirror.dev/trusted-root-sha256']);
    assert.equal(after5.metadata.annotations['tuf-mirror.dev/trusted-root-sha256'], createHash('sha256').update(changed).digest('hex'));
    // Kubewarden: the pod template annotation moves, so the policy servers restart on the new trust config.
    assert.notEqual(
      stub.object('policyservers', 'default')!.spec.annotations['tuf-mirror.dev/sigstore-trust-config-sha256'],
      policyServer.spec.annotations['tuf-mirror.dev/sigstore-trust-config-sha256'],
    );
    assert.equal(stub.object('clusterimagepolicies', 'tuf-mirror-sigstore')!.spec.authorities[0].ctlog.url, 'https://rekor2.test.example');
  });

  test('6. a mirror restored from an old archive offers older trust material: refused, never rolled back', async () => {
    const restoredConfig = mirrorConfig();
    const restored = await startMirror(restoredConfig);
    try {
      const file = path.join(dir, 'old.tar.gz');
      fs.writeFileSync(file, oldArchive);
      const imported = await importArchive({
        store: restored.store,
        repository: restoredConfig.repositories[0],
        logger: silentLogger,
        ...configuredSyncOptions(restoredConfig),
        file,
        maxBytes: restoredConfig.import.maxBytes,
      });
      assert.equal(imported.outcome, 'updated');
      restored.index.reload();
      const job = writeJob(dir, stub, {
        mirror: restored.url,
        repository: 'sigstore',
        cluster: 'prod-1',
        report: false,
        outputs: [{ format: 'remote' }, { format: 'repository', name: 'tuf-mirror-sigstore-offline' }],
      });
      const from = stub.requests.length;
      const r = await refresh(job);
      assert.equal(r.status, 1);
      for (const o of r.result!.outputs) {
        assert.equal(o.outcome, 'refused', o.message);
        assert.match(o.message!, /older than the cluster's .*not rolled back/);
      }
      assert.deepEqual(writes(stub, from), []);
    } finally {
      await restored.close();
    }
  });

  test('7. a hostile proxy that renames the object: refused; the job touches nothing outside its list', async () => {
    const relay = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
      const upstreamRes = await fetch(`${a.url}${req.url ?? ''}`);
      const text = (await upstreamRes.text()).replaceAll('name: tuf-mirror-sigstore', 'name: someone-else');
      res.writeHead(upstreamRes.status, Object.fromEntries([...upstreamRes.headers].filter(([k]) => k.startsWith('x-tuf-mirror') || k === 'content-type')));
      res.end(text);
    };
    // void: as with an async listener, a failed relay is the test process's unhandled rejection.
    const proxy = http.createServer((req, res) => void relay(req, res));
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const job = writeJob(dir, stub, {
        mirror: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
        repository: 'sigstore',
        cluster: 'prod-1',
        report: false,
        outputs: [{ format: 'remote' }],
      });
      const r = await refresh(job);
      assert.equal(r.status, 1);
      assert.equal(r.result!.outputs[0].outcome, 'refused');
      assert.match(r.result!.outputs[0].message!, /the mirror answered TrustRoot someone-else .*not TrustRoot tuf-mirror-sigstore: not applied/);
    } finally {
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
    // Over the whole sequence: only the job's objects were ever asked for, every request was allowed.
    const allowed = new Set(
      parseJob({ mirror: a.url, repository: 'sigstore', cluster: 'prod-1', outputs: OUTPUTS }, 'job').outputs.map(
        (o) => `${o.object.resource}/${o.object.namespace ? `${o.object.namespace}/` : ''}${o.object.name}`,
      ),
    );
    assert.deepEqual(
      [...new Set(stub.requests.map((q) => q.object))].filter((o) => !allowed.has(o)),
      [],
    );
    assert.deepEqual(
      stub.requests.filter((q) => q.status === 403 || q.status === 401 || q.status === 422),
      [],
    );
    assert.equal(stub.object('trustroots', 'someone-else')!.spec.remote.mirror, 'https://elsewhere');
    assert.deepEqual(stub.object('configmaps', 'kubewarden-controller-config', 'kubewarden')!.data, { x: 'y' });
  });

  test("8. the mirror's watch: a cluster whose job fails lags, one whose job stopped goes quiet; both are alerts", async () => {
    mock.timers.setTime(Date.now() + 600_000); // the next CronJob run, ten minutes later
    stub.failWith(500);
    repo.bumpTimestamp();
    for (const m of [a, b]) await m.syncAll();
    const r = await refresh(jobFile);
    stub.failWith(undefined);
    assert.equal(r.status, 1);
    assert.equal(outcomes(r)['TrustRoot tuf-mirror-sigstore-offline'], 'failed');
    const item = (m: Service, object: string) => m.watcher.items((m === a ? aConfig : bConfig).repositories[0]).find((i) => i.item === `cluster:prod-1/${object}`)!;
    // Failed, and not in sync since the last good run: fine for now, a warning after an hour, critical after 12.
    assert.equal(item(a, 'TrustRoot/tuf-mirror-sigstore-offline').state, 'ok');
    mock.timers.setTime(Date.now() + 2 * 3600_000);
    const lag = item(a, 'TrustRoot/tuf-mirror-sigstore-offline');
    assert.equal(lag.state, 'warning');
    assert.match(lag.message, /not what the mirror serves for 2h 10m .*failed: cannot read TrustRoot tuf-mirror-sigstore-offline: 500/);
    assert.match(lag.message, /no report for 2h 0m/);
    mock.timers.setTime(Date.now() + 6 * 3600_000);
    assert.equal(item(b, 'TrustRoot/tuf-mirror-sigstore').state, 'critical', 'no report for 8 hours');
    const metrics = (await get(`${a.url}/metrics`)).body.toString();
    assert.match(metrics, /tuf_mirror_cluster_output_in_sync\{repository="sigstore",cluster="prod-1",object="TrustRoot tuf-mirror-sigstore-offline"\} 0/);
    assert.match(metrics, /tuf_mirror_watch_state\{repository="sigstore",item="cluster:prod-1\/TrustRoot\/tuf-mirror-sigstore"\} 2/);
    // Reports need the token: none, or a wrong one, is refused and changes nothing.
    for (const authorization of [undefined, 'Bearer wrong-token-wrong-token']) {
      const res = await fetch(`${a.url}/api/v1/repositories/sigstore/cluster-reports`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
        body: '{}',
      });
      assert.equal(res.status, 401);
    }
    const bad = await fetch(`${a.url}/api/v1/repositories/sigstore/cluster-reports`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${REPORT_TOKEN}` },
      body: JSON.stringify({ cluster: 'Prod 1 <b>', at: 'x', outputs: [] }),
    });
    assert.equal(bad.status, 400);
    // A run that works again brings the cluster back in sync.
    const ok = await refresh(jobFile);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(item(a, 'TrustRoot/tuf-mirror-sigstore-offline').state, 'ok');
  });
});

describe('a bridge across an air gap: the job keeps a cluster in the gap fresh from the in-gap mirror', () => {
  let repo: TestRepository;
  let upstream: UpstreamServer;
  let connected: Connected;
  let gap: Gap;
  let stub: KubeStub;
  let jobFile: string;
  const OUTPUTS_GAP = [{ format: 'remote' }, { format: 'repository', name: 'tuf-mirror-site-offline' }, { format: 'kyverno-cluster-policy', ...IDENTITY }];

  before(async () => {
    mock.timers.enable({ apis: ['Date'], now: FIXTURE_NOW });
    repo = new TestRepository();
    repo.addTarget('trusted_root.json', TRUSTED_ROOT);
    repo.publish();
    upstream = await startUpstreamServer(() => repo.files());
    const anchor = path.join(tempDir(), 'anchor.json');
    fs.writeFileSync(anchor, repo.rootBytes(1));
    connected = await startConnected(upstream.url, anchor, { timestampExpiry: '60d', promote: 'auto' });
    assert.equal((await connected.service.syncAll())[0].outcome, 'updated');
    await initSite(connected);
    gap = await startGap(connected.site.trustAnchor, { server: { host: '127.0.0.1', port: 0, publicUrl: PUBLIC_URL } });
    assert.equal((await carry(connected, gap)).outcome, 'updated');
    const job = { mirror: gap.service.url, repository: SITE, cluster: 'gap-1', report: false, outputs: OUTPUTS_GAP };
    stub = await startKubeStub({ rbac: rbacFor(parseJob(job, 'job'), SA), serviceAccount: SA, validate: objectProblems });
    jobFile = writeJob(tempDir(), stub, job);
  });
  after(async () => {
    await ifStarted(gap)?.service.close();
    await ifStarted(connected)?.service.close();
    await ifStarted(upstream)?.close();
    await ifStarted(stub)?.close();
    mock.timers.reset();
  });

  test('carried, re-signed, changed: applied, then only the archive TrustRoot, then everything that carries the new trusted root', async () => {
    const first = await refresh(jobFile);
    assert.equal(first.status, 0, first.stderr + first.stdout);
    assert.deepEqual(new Set(Object.values(outcomes(first))), new Set(['applied']));
    const remote = stub.object('trustroots', 'tuf-mirror-sigstore-site')!;
    assert.ok(Buffer.from(remote.spec.remote.root, 'base64').equals(fs.readFileSync(gap.anchor)), 'the cluster trusts the site root');
    assert.equal(remote.spec.remote.mirror, PUBLIC_URL, 'the in-gap mirror, whose only (default) repository is the site');

    // The site re-signs its timestamp; the next archive carries only that.
    mock.timers.setTime(FIXTURE_NOW + 86400_000);
    await resignOrigin(connected.ctx, { force: true });
    connected.service.index.reload();
    assert.equal((await carry(connected, gap)).outcome, 'updated');
    let from = stub.requests.length;
    const resigned = await refresh(jobFile);
    assert.equal(resigned.status, 0, resigned.stderr);
    assert.deepEqual(writes(stub, from), ['trustroots/tuf-mirror-site-offline']);

    // Upstream changes trusted_root.json: the bridge promotes it, the next archive carries it in.
    repo.addTarget('trusted_root.json', withNewRekor());
    repo.publish();
    assert.equal((await connected.service.syncAll())[0].outcome, 'updated');
    connected.service.index.reload();
    assert.equal((await carry(connected, gap)).outcome, 'updated');
    from = stub.requests.length;
    const changed = await refresh(jobFile);
    assert.equal(changed.status, 0, changed.stderr);
    assert.deepEqual(writes(stub, from), ['clusterpolicies/tuf-mirror-sigstore-site', 'trustroots/tuf-mirror-sigstore-site', 'trustroots/tuf-mirror-site-offline']);
    const nudged = stub.object('trustroots', 'tuf-mirror-sigstore-site')!;
    assert.deepEqual(nudged.spec, remote.spec, 'the same site root and mirror: the annotation is the touch');
    assert.notEqual(nudged.metadata.annotations['tuf-mirror.dev/trusted-root-sha256'], remote.metadata.annotations['tuf-mirror.dev/trusted-root-sha256']);
    const keyless = stub.object('clusterpolicies', 'tuf-mirror-sigstore-site')!.spec.rules[0].verifyImages[0].attestors[0].entries[0].keyless;
    assert.equal(keyless.rekor.url, 'https://rekor2.test.example');
  });
});

describe('replicas by DNS name (a headless Service)', () => {
  test('every address the name resolves to, with the scheme, port and path of the mirror URL; a name that resolves to nothing fails every output', async () => {
    const urls = await sourceUrls({ mirror: 'http://tuf-mirror.tuf-mirror.svc:8080', replicas: { dns: 'localhost' } });
    assert.ok(urls.includes('http://127.0.0.1:8080'), urls.join(', '));
    assert.ok(
      urls.every((u) => /^http:\/\/(127\.0\.0\.1|\[::1\]):8080$/.test(u)),
      urls.join(', '),
    );
    await assert.rejects(sourceUrls({ mirror: 'http://m:8080', replicas: { dns: 'no-such-replicas.invalid' } }), /cannot resolve the replicas no-such-replicas\.invalid/);
  });
});
