/**
 * deploy/kubernetes/refresh: the mirror plus the CronJob that keeps this cluster's trust-root
 * objects fresh. Rendered as kustomize would (test/helpers/k8s-manifests.ts; `kubectl kustomize`
 * too when installed), every object validated against the Kubernetes OpenAPI schemas
 * (kubernetes-models) with no unknown field, RBAC included, and checked to hang together: the job
 * file the CronJob mounts is one refresh-cluster accepts, its RBAC is exactly what `--rbac`
 * derives from that file (get/create/patch of named objects, nothing else), its mirror and
 * replicas are the Services of the mirror pods, and the report token is the same Secret on both sides.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import YAML from 'yaml';
import { parseConfig } from '../../config/config';
import { packageRoot } from '../../lib/paths';
import { parseJob } from '../../refresh/job';
import { rbacFor } from '../../refresh/rbac';
import { MODELS, modelDts, modelFor, objectKey, renderKustomization, unknownFields, type Obj } from '../helpers/k8s-manifests';
import { tempDir } from '../helpers/mirror';

const ROOT = packageRoot();
const K8S = path.join(ROOT, 'deploy', 'kubernetes');
const overlay = renderKustomization(path.join(K8S, 'refresh'));
const base = renderKustomization(path.join(K8S, 'base'));
const one = (kind: string, name?: string): Obj => {
  const found = overlay.filter((o) => o.kind === kind && (!name || o.metadata.name === name));
  assert.equal(found.length, 1, `one ${kind}${name ? ` ${name}` : ''}`);
  return found[0];
};
/** The found value, or a failed assertion naming what was missing. */
function must<T>(value: T | undefined, what: string): T {
  assert.ok(value !== undefined, `${what} is missing`);
  return value;
}
const cronJob = one('CronJob');
const pod = cronJob.spec.jobTemplate.spec.template;
const [container] = pod.spec.containers as Obj[];
const deployment = one('Deployment');

/** The job file as the container reads it. */
function mountedJob() {
  const args = container.args as string[];
  assert.equal(args[0], 'refresh-cluster');
  const file = args[args.indexOf('--job') + 1];
  const mount = (container.volumeMounts as Obj[]).find((m) => file.startsWith(`${String(m.mountPath)}/`));
  assert.ok(mount, `${file} is inside a mount`);
  const volume = must(
    (pod.spec.volumes as Obj[]).find((v) => v.name === mount.name),
    'the job volume',
  );
  const cm = one('ConfigMap', volume.configMap.name);
  return parseJob(YAML.parse(cm.data[path.posix.relative(mount.mountPath, file)]), 'deploy/kubernetes/refresh job.yaml');
}

describe('deploy/kubernetes/refresh renders', () => {
  test('the base plus a headless Service, a ServiceAccount, the job ConfigMap, its RBAC and the CronJob; no duplicates', () => {
    const added = overlay
      .filter((o) => !base.some((b) => objectKey(b) === objectKey(o)))
      .map((o) => `${String(o.kind)} ${String(o.metadata.name)}`)
      .sort();
    assert.deepEqual(added, [
      'ClusterRole tuf-mirror-refresh',
      'ClusterRoleBinding tuf-mirror-refresh',
      'ConfigMap tuf-mirror-refresh-job',
      'CronJob tuf-mirror-refresh',
      'Service tuf-mirror-replicas',
      'ServiceAccount tuf-mirror-refresh',
    ]);
    assert.equal(new Set(overlay.map(objectKey)).size, overlay.length);
    for (const b of base)
      assert.deepEqual(
        overlay.find((o) => objectKey(o) === objectKey(b)),
        b,
        `${objectKey(b)} as the base has it`,
      );
  });

  test('kubectl kustomize renders the same objects (when kubectl is installed)', (t) => {
    const probe = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) {
      t.skip('kubectl not installed');
      return;
    }
    const r = spawnSync('kubectl', ['kustomize', path.join(K8S, 'refresh')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const theirs = YAML.parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj);
    const byKey = (objs: Obj[]) => Object.fromEntries(objs.map((o) => [objectKey(o), o]));
    assert.deepEqual(byKey(theirs), byKey(overlay));
  });

  test('every object, RBAC included, validates against the Kubernetes OpenAPI schema with no unknown field', () => {
    for (const o of overlay) {
      const Model = modelFor(o);
      assert.ok(Model, `a schema for ${objectKey(o)}`);
      assert.doesNotThrow(() => new Model(o).validate(), objectKey(o));
      assert.deepEqual(unknownFields(o, modelDts(o)!, objectKey(o)), [], `${objectKey(o)}: unknown fields`);
    }
    // The validators catch a typo here too.
    const typo = structuredClone(cronJob);
    typo.spec.jobTemplate.spec.template.spec.serviceAcountName = 'x';
    assert.deepEqual(unknownFields(typo, modelDts(typo)!, 'CronJob'), ['CronJob.spec.jobTemplate.spec.template.spec.serviceAcountName']);
    const badRule = structuredClone(one('ClusterRole'));
    badRule.rules[0].verbs = 'get';
    assert.throws(() => new MODELS['rbac.authorization.k8s.io/v1/ClusterRole'](badRule).validate());
  });
});

describe('the CronJob', () => {
  test('runs refresh-cluster from the mirror image, one at a time, bounded, as the locked-down non-root user', () => {
    assert.equal(container.image, (deployment.spec.template.spec.containers as Obj[])[0].image, 'the tuf-mirror image');
    assert.equal(cronJob.spec.concurrencyPolicy, 'Forbid');
    assert.ok(cronJob.spec.jobTemplate.spec.activeDeadlineSeconds <= 600);
    assert.equal(pod.spec.restartPolicy, 'Never');
    const sc = container.securityContext;
    assert.equal(sc.allowPrivilegeEscalation, false);
    assert.equal(sc.readOnlyRootFilesystem, true);
    assert.equal(sc.runAsNonRoot, true);
    assert.deepEqual(sc.capabilities.drop, ['ALL']);
    assert.equal(sc.seccompProfile.type, 'RuntimeDefault');
    assert.equal(pod.spec.securityContext.runAsUser, 1000);
    assert.ok(container.resources.requests.memory && container.resources.limits.memory);
    const heap = must(
      /--max-old-space-size=(\d+)/.exec(
        must(
          (container.env as Obj[]).find((e) => e.name === 'NODE_OPTIONS'),
          'NODE_OPTIONS',
        ).value,
      ) ?? undefined,
      'a heap cap',
    );
    const limit = must(/^(\d+)Mi$/.exec(container.resources.limits.memory) ?? undefined, 'a memory limit in Mi');
    assert.ok(Number(heap[1]) < Number(limit[1]));
  });

  test('its service account is the one the RBAC binds, with a token to talk to the API server', () => {
    const sa = one('ServiceAccount');
    assert.equal(pod.spec.serviceAccountName, sa.metadata.name);
    assert.equal(pod.spec.automountServiceAccountToken, true);
    assert.equal(sa.metadata.namespace, cronJob.metadata.namespace);
    for (const b of overlay.filter((o) => o.kind.endsWith('RoleBinding'))) assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace }]);
  });

  test('the report token comes from the same Secret the mirror reads, optionally on both sides', () => {
    const ref = (env: Obj[]) =>
      must(
        env.find((e) => e.name === 'TUF_MIRROR_REPORT_TOKEN'),
        'TUF_MIRROR_REPORT_TOKEN',
      ).valueFrom.secretKeyRef;
    const job = ref(container.env);
    const mirror = ref((deployment.spec.template.spec.containers as Obj[])[0].env);
    assert.deepEqual(job, mirror);
    assert.equal(job.optional, true);
  });
});

describe('the job file and its RBAC', () => {
  test('the mounted job file is one refresh-cluster accepts; it fetches from the mirror Service and every ready replica', () => {
    const job = mountedJob();
    const service = one('Service', 'tuf-mirror');
    const port = must(
      (service.spec.ports as Obj[]).find((p) => p.name === 'http'),
      'the http port',
    );
    assert.equal(job.mirror, `http://${String(service.metadata.name)}.${String(service.metadata.namespace)}.svc:${String(port.port)}`);
    const headless = one('Service', 'tuf-mirror-replicas');
    assert.equal(headless.spec.clusterIP, 'None');
    assert.equal(job.replicas?.dns, `${String(headless.metadata.name)}.${String(headless.metadata.namespace)}.svc.cluster.local`);
    assert.deepEqual(headless.spec.selector, service.spec.selector, 'the same pods');
    assert.deepEqual(
      (headless.spec.ports as Obj[]).map((p) => p.port),
      [port.port],
      'the same port as the mirror URL',
    );
    // The mirror answers for that repository, and names itself by the same URL in what it hands out.
    const cm = base.find((o) => o.kind === 'ConfigMap')!;
    const raw = YAML.parse(cm.data['config.yaml']);
    raw.repositories = raw.repositories.map((r: Obj) => ({ ...r, trustAnchor: String(r.trustAnchor).replace(/^\/app\//, ROOT + '/') }));
    const config = parseConfig(raw, 'base ConfigMap', '/etc/tuf-mirror');
    assert.ok(config.repositories.some((r) => r.name === job.repository));
    assert.equal(config.server.publicUrl, job.mirror);
  });

  test('rbac.yaml is exactly what --rbac derives from the job file: get, create and patch of named objects, nothing listable or deletable', () => {
    const job = mountedJob();
    const sa = one('ServiceAccount');
    const rbac = overlay.filter((o) => /^(Cluster)?Role(Binding)?$/.test(o.kind));
    const strip = (o: Obj) => ({ ...o, metadata: { ...o.metadata } });
    assert.deepEqual(rbac.map(strip), rbacFor(job, { namespace: sa.metadata.namespace, name: sa.metadata.name }));
    for (const role of rbac.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')) {
      for (const rule of role.rules as Obj[]) {
        assert.ok(rule.resourceNames?.length, 'every rule names its objects');
        assert.deepEqual(
          rule.verbs.filter((v: string) => !['get', 'create', 'patch'].includes(v)),
          [],
        );
        assert.ok(!rule.resources.includes('*') && !rule.apiGroups.includes('*'));
      }
    }
    // The CLI prints the same (what the README tells operators to run after editing the job).
    const file = path.join(tempDir('tuf-mirror-rbac-'), 'job.yaml');
    fs.writeFileSync(file, one('ConfigMap', 'tuf-mirror-refresh-job').data['job.yaml']);
    const printed = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'cli', 'main.js'), 'refresh-cluster', '--job', file, '--rbac'], { encoding: 'utf8' });
    assert.equal(printed.status, 0, printed.stderr);
    assert.deepEqual(
      YAML.parseAllDocuments(printed.stdout).map((d) => d.toJS()),
      YAML.parseAllDocuments(fs.readFileSync(path.join(K8S, 'refresh', 'rbac.yaml'), 'utf8')).map((d) => d.toJS()),
    );
  });
});
