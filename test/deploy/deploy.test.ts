/**
 * deploy/kubernetes: the rendered manifests validate against the Kubernetes OpenAPI schemas
 * (kubernetes-models) with no field those schemas lack, and hang together: selectors match labels, ports and probes name what the
 * container listens on, every container is locked down and bounded, the mounted config is one
 * this version of tuf-mirror accepts, and the PrometheusRule carries exactly the shipped rules.
 *
 * Rendering: kustomizations here use only `namespace`, `resources` and `images`, rendered by
 * renderKustomization() below; when kubectl is installed, `kubectl kustomize` must render the
 * same objects.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import YAML from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { embeddedDefault, parseConfig } from '../../config/config';
import { MODELS, apiType, modelDts, modelFor, objectKey, renderKustomization, unknownFields, type Obj } from '../helpers/k8s-manifests';
import { packageRoot } from '../../lib/paths';
import { VERIFY_ROUTES } from '../../server/api/verify';
import { WORKER_HEAP_MB } from '../../server/verification';

const ROOT = packageRoot();
const K8S = path.join(ROOT, 'deploy', 'kubernetes');

const find = (objs: Obj[], kind: string): Obj[] => objs.filter((o) => o.kind === kind);
const one = (objs: Obj[], kind: string): Obj => {
  const found = find(objs, kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0];
};
const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined): boolean =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);

const base = renderKustomization(path.join(K8S, 'base'));
const monitoring = renderKustomization(path.join(K8S, 'monitoring'));
const deployment = one(base, 'Deployment');
const pod = deployment.spec.template;
const [container] = pod.spec.containers as Obj[];

describe('deploy/kubernetes renders', () => {
  test('base: Namespace, ConfigMap, Deployment, Service, PodDisruptionBudget, NetworkPolicy, all in namespace tuf-mirror', () => {
    assert.deepEqual(base.map((o) => o.kind).sort(), ['ConfigMap', 'Deployment', 'Namespace', 'NetworkPolicy', 'PodDisruptionBudget', 'Service']);
    for (const o of base) if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, 'tuf-mirror', objectKey(o));
    assert.equal(one(base, 'Namespace').metadata.name, 'tuf-mirror');
    assert.equal(new Set(base.map(objectKey)).size, base.length, 'no duplicates');
  });

  test('monitoring: base plus a ServiceMonitor and a PrometheusRule', () => {
    assert.deepEqual(monitoring.map((o) => o.kind).sort(), [...base.map((o) => o.kind), 'PrometheusRule', 'ServiceMonitor'].sort());
  });

  test('kubectl kustomize renders the same objects (when kubectl is installed)', (t) => {
    const probe = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) {
      t.skip('kubectl not installed');
      return;
    }
    for (const [dir, mine] of [
      ['base', base],
      ['monitoring', monitoring],
    ] as const) {
      const r = spawnSync('kubectl', ['kustomize', path.join(K8S, dir)], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const theirs = YAML.parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj);
      const byKey = (objs: Obj[]): Record<string, Obj> => Object.fromEntries(objs.map((o) => [objectKey(o), o]));
      assert.deepEqual(byKey(theirs), byKey(mine), dir);
    }
  });

  test('every built-in object validates against the Kubernetes OpenAPI schema (kubernetes-models)', () => {
    const example = YAML.parse(fs.readFileSync(path.join(K8S, 'admin-token-secret.example.yaml'), 'utf8')) as Obj;
    let validated = 0;
    for (const o of [...monitoring, example]) {
      const Model = modelFor(o);
      if (!Model) continue;
      assert.doesNotThrow(() => new Model(o).validate(), objectKey(o));
      validated++;
    }
    assert.equal(validated, base.length + 1);
    // Nor an unknown field anywhere (the API server would drop it silently).
    for (const o of [...base, example]) assert.deepEqual(unknownFields(o, modelDts(o)!, objectKey(o)), [], `${objectKey(o)}: unknown fields`);
    // The validator does catch mistakes:
    const broken = structuredClone(deployment);
    broken.spec.template.spec.containers[0].ports[0].containerPort = 'http';
    assert.throws(() => new Deployment(broken).validate(), /containerPort must be integer/);
    const typo = structuredClone(deployment);
    typo.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
    typo.spec.template.spec.containers[0].livenessProbe.httpGet.paht = '/healthz';
    assert.deepEqual(unknownFields(typo, modelDts(typo)!, 'Deployment'), [
      'Deployment.spec.template.spec.containers[0].livenessProbe.httpGet.paht',
      'Deployment.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem',
    ]);
  });
});

describe('the Deployment', () => {
  test('replicas share nothing: each has its own emptyDir data dir; rolling updates keep every ready replica until a new one is ready', () => {
    assert.ok(deployment.spec.replicas >= 2);
    const volumes = Object.fromEntries((pod.spec.volumes as Obj[]).map((v) => [v.name, v]));
    const mounts = Object.fromEntries((container.volumeMounts as Obj[]).map((m) => [m.mountPath, m]));
    assert.ok(volumes[mounts['/data'].name].emptyDir, '/data is an emptyDir');
    assert.ok(volumes[mounts['/tmp'].name].emptyDir, '/tmp is an emptyDir');
    assert.ok(!(pod.spec.volumes as Obj[]).some((v) => v.persistentVolumeClaim), 'no shared volume');
    assert.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0);
  });

  test('selector, pod labels, Service, PodDisruptionBudget, NetworkPolicy and ServiceMonitor all select the same pods', () => {
    const labels = pod.metadata.labels as Record<string, string>;
    assert.ok(matches(deployment.spec.selector.matchLabels, labels), 'Deployment selector');
    assert.ok(matches(one(base, 'Service').spec.selector, labels), 'Service selector');
    assert.ok(matches(one(base, 'PodDisruptionBudget').spec.selector.matchLabels, labels), 'PDB selector');
    assert.ok(matches(one(base, 'NetworkPolicy').spec.podSelector.matchLabels, labels), 'NetworkPolicy podSelector');
    const sm = one(monitoring, 'ServiceMonitor');
    assert.ok(matches(sm.spec.selector.matchLabels, one(base, 'Service').metadata.labels), 'ServiceMonitor selects the Service');
    for (const c of pod.spec.topologySpreadConstraints as Obj[]) assert.ok(matches(c.labelSelector.matchLabels, labels));
    // A budget that allows no disruption would block every node drain.
    const pdb = one(base, 'PodDisruptionBudget').spec;
    assert.ok(pdb.maxUnavailable >= 1 || pdb.minAvailable < deployment.spec.replicas);
  });

  test('ports are consistent: container, probes, Service, NetworkPolicy, ServiceMonitor, and the config', () => {
    const ports = container.ports as Obj[];
    const http = ports.find((p) => p.name === 'http')!;
    assert.ok(http);
    const svc = one(base, 'Service').spec.ports as Obj[];
    for (const p of svc)
      assert.ok(
        ports.some((c) => p.targetPort === c.name || p.targetPort === c.containerPort),
        `Service port ${String(p.name)} targets the container`,
      );
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
      assert.ok([http.name, http.containerPort].includes(container[probe].httpGet.port), `${probe} port`);
    }
    const ingressPorts = (one(base, 'NetworkPolicy').spec.ingress as Obj[]).flatMap((r) => r.ports.map((p: Obj) => p.port));
    const verify = ports.find((p) => p.name === 'verify')!;
    assert.deepEqual(ingressPorts, [http.containerPort, verify.containerPort]);
    assert.equal(mountedConfig().verifier.listen?.port, verify.containerPort);
    for (const e of one(monitoring, 'ServiceMonitor').spec.endpoints as Obj[])
      assert.ok(
        svc.some((p) => p.name === e.port),
        `ServiceMonitor port ${String(e.port)}`,
      );
    assert.equal(mountedConfig().server.port, http.containerPort);
  });

  test('every container has probes on /healthz and /readyz, resources and a locked-down securityContext', () => {
    const containers = [...(pod.spec.containers as Obj[]), ...((pod.spec.initContainers as Obj[] | undefined) ?? [])];
    for (const c of containers) {
      assert.equal(c.livenessProbe?.httpGet?.path, '/healthz', `${String(c.name)} liveness`);
      assert.equal(c.readinessProbe?.httpGet?.path, '/readyz', `${String(c.name)} readiness`);
      assert.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory, `${String(c.name)} requests`);
      assert.ok(c.resources?.limits?.memory, `${String(c.name)} memory limit`);
      const sc = c.securityContext;
      assert.equal(sc.allowPrivilegeEscalation, false);
      assert.equal(sc.readOnlyRootFilesystem, true);
      assert.equal(sc.runAsNonRoot, true);
      assert.notEqual(sc.privileged, true);
      assert.deepEqual(sc.capabilities.drop, ['ALL']);
      assert.equal(sc.capabilities.add, undefined);
      assert.equal(sc.seccompProfile.type, 'RuntimeDefault');
      // Memory requests do not exceed the limit; the heap cap stays below the limit.
      const mi = (q: string): number => Number(/^(\d+)Mi$/.exec(q)![1]);
      assert.ok(mi(c.resources.requests.memory) <= mi(c.resources.limits.memory));
      const heap = /--max-old-space-size=(\d+)/.exec((c.env as Obj[]).find((e) => e.name === 'NODE_OPTIONS')?.value ?? '');
      if (heap) {
        // The main heap and the verification worker's together stay below the limit.
        assert.ok(Number(heap[1]) + WORKER_HEAP_MB < mi(c.resources.limits.memory));
        // An import holds up to ~10x its archive in memory: the default cap fits the heap.
        assert.ok(mountedConfig().import.maxBytes * 10 <= Number(heap[1]) * 1024 * 1024, 'import.maxBytes fits the heap');
      }
    }
    const psc = pod.spec.securityContext;
    assert.equal(psc.runAsNonRoot, true);
    assert.ok(psc.runAsUser > 0);
    assert.equal(psc.seccompProfile.type, 'RuntimeDefault');
    assert.equal(pod.spec.automountServiceAccountToken, false);
    for (const field of ['hostNetwork', 'hostPID', 'hostIPC']) assert.notEqual(pod.spec[field], true, field);
    // The uid is the image's non-root user.
    assert.match(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'), /^USER node$/m);
    assert.equal(psc.runAsUser, 1000, 'node:20 images give `node` uid 1000');
  });

  test('the admin token comes from the Secret, optionally (none: admin endpoints disabled)', () => {
    const env = Object.fromEntries((container.env as Obj[]).map((e) => [e.name, e]));
    const ref = env.TUF_MIRROR_ADMIN_TOKEN.valueFrom.secretKeyRef;
    assert.equal(ref.optional, true);
    const example = YAML.parse(fs.readFileSync(path.join(K8S, 'admin-token-secret.example.yaml'), 'utf8')) as Obj;
    assert.equal(example.metadata.name, ref.name);
    assert.ok(ref.key in example.stringData);
    assert.ok(!find(base, 'Secret').length, 'no token in the kustomization');
  });

  test('the NetworkPolicy allows ingress only to the HTTP port, egress only DNS and the upstream', () => {
    const np = one(base, 'NetworkPolicy').spec;
    // The verification port is kept to address blocks (the API server's): no pod or namespace selector opens it.
    const verifyRule = (np.ingress as Obj[]).find((r) => r.ports.some((p: Obj) => p.port === 8443))!;
    assert.ok(verifyRule.from?.length, 'the verification port has a from');
    for (const peer of verifyRule.from as Obj[]) assert.deepEqual(Object.keys(peer), ['ipBlock']);
    assert.deepEqual(np.policyTypes, ['Ingress', 'Egress']);
    const egressPorts = (np.egress as Obj[]).flatMap((r) => r.ports.map((p: Obj) => `${String(p.protocol)}/${String(p.port)}`)).sort();
    assert.deepEqual(egressPorts, ['TCP/443', 'TCP/53', 'TCP/8080', 'UDP/53']);
    const upstream = new URL(mountedConfig().repositories[0].upstream);
    assert.ok(egressPorts.includes(`TCP/${upstream.port || (upstream.protocol === 'https:' ? 443 : 80)}`), 'the upstream is reachable');
  });
});

/** The ConfigMap's config.yaml, validated by tuf-mirror's own parser as the container sees it. */
function mountedConfig(): ReturnType<typeof parseConfig> {
  const cm = one(base, 'ConfigMap');
  const env = Object.fromEntries((container.env as Obj[]).map((e) => [e.name, e.value]));
  const mount = (container.volumeMounts as Obj[]).find((m) => env.TUF_MIRROR_CONFIG.startsWith(`${String(m.mountPath)}/`))!;
  assert.ok(mount, `TUF_MIRROR_CONFIG ${String(env.TUF_MIRROR_CONFIG)} is inside a mount`);
  assert.equal(mount.readOnly, true);
  const volume = (pod.spec.volumes as Obj[]).find((v) => v.name === mount.name)!;
  assert.equal(volume.configMap.name, cm.metadata.name);
  const fileName = path.posix.relative(mount.mountPath, env.TUF_MIRROR_CONFIG);
  const raw = YAML.parse(cm.data[fileName]) as Obj;
  // /app is the image's package root: anchors shipped in the image are in this checkout's config/.
  raw.repositories = (raw.repositories as Obj[]).map((r) => ({ ...r, trustAnchor: String(r.trustAnchor).replace(/^\/app\//, ROOT + '/') }));
  return parseConfig(raw, 'deploy/kubernetes ConfigMap', '/etc/tuf-mirror');
}

describe('the ConfigMap', () => {
  test("config.yaml is valid for tuf-mirror's own parser, keeps data on the data mount and syncs on start", () => {
    const config = mountedConfig();
    const mounts = (container.volumeMounts as Obj[]).map((m) => m.mountPath);
    assert.ok(mounts.includes(config.dataDir), `dataDir ${config.dataDir} is a mounted volume (the root filesystem is read-only)`);
    assert.equal(config.sync.onStart, true, 'a new replica fills itself');
    assert.ok(config.sync.jitterSeconds > 0, 'replicas spread their refreshes');
    // An empty TUF_MIRROR_ADMIN_TOKEN sets no token.
    const envToken = process.env.TUF_MIRROR_ADMIN_TOKEN;
    assert.equal(config.adminToken, envToken === '' ? undefined : envToken, 'no token in the ConfigMap');
    assert.ok(fs.existsSync(config.repositories[0].trustAnchor), 'the anchor ships in the image');
  });
});

/** The found value, or a failed assertion naming what was missing. */
function must<T>(value: T | undefined, what: string): T {
  assert.ok(value !== undefined, `${what} is missing`);
  return value;
}

describe('admission webhooks (deploy/kubernetes/admission/webhooks.yaml)', () => {
  const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(K8S, 'admission', 'webhooks.yaml'), 'utf8')).map((d) => d.toJS() as Obj);
  const service = one(base, 'Service');
  const config = mountedConfig();

  test('a mutating and a validating configuration, valid against the Kubernetes schemas with no unknown field', () => {
    assert.deepEqual(
      docs.map((d) => d.kind),
      ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'],
    );
    for (const d of docs) {
      assert.doesNotThrow(() => new MODELS[apiType(d)](d).validate(), d.kind);
      assert.deepEqual(unknownFields(d, modelDts(d)!, d.kind), [], `${String(d.kind)}: unknown fields`);
    }
  });

  test('each calls an endpoint that exists, on the verification port of the Service, fails closed in time, and spares the mirror', () => {
    const paths: Record<string, string> = { MutatingWebhookConfiguration: '/api/v1/admission/mutate', ValidatingWebhookConfiguration: '/api/v1/admission' };
    for (const d of docs) {
      assert.equal(d.webhooks.length, 1);
      const w = d.webhooks[0];
      assert.equal(w.clientConfig.service.path, paths[d.kind]);
      assert.ok(VERIFY_ROUTES.has(w.clientConfig.service.path));
      assert.equal(w.clientConfig.service.name, service.metadata.name);
      assert.equal(w.clientConfig.service.namespace, service.metadata.namespace);
      const port = (service.spec.ports as Obj[]).find((p) => p.port === w.clientConfig.service.port);
      assert.ok(port, 'a Service port');
      const target = must(
        (container.ports as Obj[]).find((p) => p.name === port.targetPort),
        'the container port',
      );
      assert.equal(target.containerPort, config.verifier.listen?.port, 'the Service port leads to verifier.listen');
      assert.equal(w.failurePolicy, 'Fail');
      assert.equal(w.sideEffects, 'None');
      assert.deepEqual(w.admissionReviewVersions, ['v1']);
      assert.ok(w.timeoutSeconds > config.verifier.requestTimeoutSeconds && w.timeoutSeconds <= 30, 'a registry request fits in the webhook timeout');
      const excluded = must(
        (w.namespaceSelector.matchExpressions as Obj[]).find((e) => e.key === 'kubernetes.io/metadata.name' && e.operator === 'NotIn'),
        'a namespace exclusion',
      );
      assert.ok(excluded.values.includes(service.metadata.namespace), "the mirror's own namespace is not watched");
      const resources = (w.rules as Obj[]).flatMap((r) => r.resources);
      for (const r of ['pods', 'pods/ephemeralcontainers', 'deployments', 'statefulsets', 'daemonsets', 'replicasets', 'jobs', 'cronjobs'])
        assert.ok(resources.includes(r), `${String(d.kind)} covers ${r}`);
    }
  });

  test('the certificate the listener would use comes from the mounted Secret', () => {
    const mount = must(
      (container.volumeMounts as Obj[]).find((m) => m.mountPath === '/etc/tuf-mirror/tls'),
      'the TLS mount',
    );
    const volume = must(
      (pod.spec.volumes as Obj[]).find((v) => v.name === mount.name),
      'the TLS volume',
    );
    assert.equal(volume.secret.secretName, 'tuf-mirror-webhook-tls');
    const commented = /# tls: \{ certFile: (\S+), keyFile: (\S+) \}/.exec(one(base, 'ConfigMap').data['config.yaml']);
    assert.ok(commented && commented[1].startsWith(`${String(mount.mountPath)}/`) && commented[2].startsWith(`${String(mount.mountPath)}/`));
  });
});

describe('monitoring', () => {
  test('the PrometheusRule carries exactly the groups of deploy/prometheus/tuf-mirror-rules.yaml', () => {
    const rules = YAML.parse(fs.readFileSync(path.join(ROOT, 'deploy', 'prometheus', 'tuf-mirror-rules.yaml'), 'utf8')) as Obj;
    const pr = one(monitoring, 'PrometheusRule');
    assert.equal(pr.apiVersion, 'monitoring.coreos.com/v1');
    assert.deepEqual(pr.spec.groups, rules.groups, 'copy the groups of deploy/prometheus/tuf-mirror-rules.yaml into deploy/kubernetes/monitoring/prometheusrule.yaml');
  });

  test('the ServiceMonitor scrapes /metrics on the http port', () => {
    const sm = one(monitoring, 'ServiceMonitor');
    assert.equal(sm.apiVersion, 'monitoring.coreos.com/v1');
    assert.deepEqual(
      (sm.spec.endpoints as Obj[]).map((e) => [e.port, e.path]),
      [['http', '/metrics']],
    );
  });
});

describe('docker compose', () => {
  test('a persistent named volume, the mounted config with a scheduled refresh, a locked-down container, an optional admin token', () => {
    const compose = YAML.parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as Obj;
    const service = compose.services['tuf-mirror'];
    assert.ok((service.volumes as string[]).includes('tuf-mirror-data:/data'));
    assert.ok('tuf-mirror-data' in compose.volumes, 'a named volume: it outlives the container');
    assert.equal(service.read_only, true);
    assert.ok((service.tmpfs as string[]).includes('/tmp'));
    assert.match(JSON.stringify(service.healthcheck.test), /\/healthz/);
    assert.equal(service.environment.TUF_MIRROR_ADMIN_TOKEN, '${TUF_MIRROR_ADMIN_TOKEN:-}');
    const file = path.join(ROOT, 'deploy', 'config.yaml');
    const raw = YAML.parse(fs.readFileSync(file, 'utf8')) as Obj;
    raw.repositories = (raw.repositories as Obj[]).map((r) => ({ ...r, trustAnchor: String(r.trustAnchor).replace(/^\/app\//, ROOT + '/') }));
    const config = parseConfig(raw, file, path.dirname(file));
    assert.equal(config.dataDir, '/data');
    assert.equal(config.sync.onStart, true);
    assert.equal(config.repositories[0].schedule, '*/30 * * * *');
  });
});

describe('the image runs as a user that owns its data dir', () => {
  /** The runtime stage of the Dockerfile: instructions after the last FROM, continuation lines joined. */
  const runtime = (): { op: string; args: string }[] => {
    const text = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
    const lines = text.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
    const last = lines.map((l) => l.trim().split(/\s+/)[0]).lastIndexOf('FROM');
    return lines.slice(last + 1).map((l) => ({ op: l.trim().split(/\s+/)[0], args: l.trim().slice(l.trim().indexOf(' ') + 1) }));
  };

  test('the Dockerfile: USER node, TUF_MIRROR_DATA_DIR a volume created and chowned to node before USER', () => {
    const steps = runtime();
    const user = steps.findIndex((s) => s.op === 'USER');
    assert.equal(steps[user].args, 'node');
    const env = steps.find((s) => s.op === 'ENV' && s.args.startsWith('TUF_MIRROR_DATA_DIR='));
    assert.ok(env, 'ENV TUF_MIRROR_DATA_DIR: every command, whatever its config, keeps its store there');
    const dataDir = env.args.split('=')[1];
    const chown = steps.findIndex((s) => s.op === 'RUN' && s.args.includes(`mkdir -p ${dataDir}`) && new RegExp(`chown (-R )?node:node ${dataDir}\\b`).test(s.args));
    assert.ok(chown >= 0 && chown < user, `${dataDir} is created and given to node while still root`);
    assert.ok(
      steps.some((s) => s.op === 'VOLUME' && s.args.includes(`"${dataDir}"`)),
      `${dataDir} is a volume`,
    );
    const workdir = steps.find((s) => s.op === 'WORKDIR')!.args;
    assert.ok(!dataDir.startsWith(workdir + '/'), `the data dir is not under ${workdir}, which root owns`);
    // What `tuf-mirror serve` with no config at all uses in the image: the env var's dir.
    assert.equal(parseConfig(embeddedDefault(), 'embedded default', workdir, { dataDir }).dataDir, dataDir);
  });

  test('docker compose keeps that dir on the named volume, and its config agrees', () => {
    const dataDir = runtime()
      .find((s) => s.op === 'ENV' && s.args.startsWith('TUF_MIRROR_DATA_DIR='))!
      .args.split('=')[1];
    const compose = YAML.parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as Obj;
    assert.ok((compose.services['tuf-mirror'].volumes as string[]).includes(`tuf-mirror-data:${dataDir}`));
    const raw = YAML.parse(fs.readFileSync(path.join(ROOT, 'deploy', 'config.yaml'), 'utf8')) as Obj;
    assert.equal(raw.dataDir, dataDir);
    const mounted = (container.volumeMounts as Obj[]).map((m) => m.mountPath);
    assert.ok(mounted.includes(dataDir), 'the Kubernetes pod mounts it too');
  });
});
