/**
 * The shipped Prometheus rules, with Debian's real promtool (package `prometheus`): `promtool
 * check rules`, and `promtool test rules` against input series named exactly as a running
 * tuf-mirror's /metrics names them (read from a live instance here, so renaming a metric or a
 * label breaks this test). Each stage fires alone: a warning ends when its critical begins.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { packageRoot } from '../../lib/paths';
import type { Service } from '../../server/service';
import { get, ifStarted, startMirror, tempDir, testConfig } from '../helpers/mirror';
import { TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const RULES = path.join(packageRoot(), 'deploy', 'prometheus', 'tuf-mirror-rules.yaml');
const promtool = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).stdout.trim();
const skip = promtool ? false : 'promtool is not installed (.ci/run installs it: apt-get install prometheus)';

const run = (args: string[]): Promise<{ status: number; out: string }> =>
  new Promise((resolve) => execFile(promtool, args, { encoding: 'utf8' }, (err, stdout, stderr) => resolve({ status: err ? Number(err.code) : 0, out: stdout + stderr })));

/** Series as /metrics exports them: `name{label="value",…}`, by name. */
let exported: string[] = [];
let upstream: UpstreamServer;
let mirror: Service;

before(async () => {
  if (skip) return;
  const repo = new TestRepository();
  repo.addTarget('trusted_root.json', '{}\n');
  repo.publish();
  upstream = await startUpstreamServer(() => repo.files());
  // A webhook to a closed port: its delivery counters exist with every outcome.
  mirror = await startMirror(testConfig([{ upstream: upstream.url, anchor: repo.rootBytes(1) }], { alerts: { webhooks: [{ url: 'http://127.0.0.1:9/hook' }] } }));
  assert.equal((await mirror.syncAll())[0].outcome, 'updated');
  const text = (await get(`${mirror.url}/metrics`)).body.toString();
  exported = text
    .split('\n')
    .filter((l) => l.startsWith('tuf_mirror_'))
    .map((l) => l.slice(0, l.lastIndexOf(' ')));
});
after(async () => {
  await ifStarted(mirror)?.close();
  await ifStarted(upstream)?.close();
});

/** The exported series of `name` whose labels include `labels`; fails when /metrics has none. */
function series(name: string, labels: Record<string, string> = {}): string {
  const found = exported.find((s) => (s === name || s.startsWith(`${name}{`)) && Object.entries(labels).every(([k, v]) => s.includes(`${k}="${v}"`)));
  assert.ok(found, `/metrics exports ${name}${JSON.stringify(labels)} (exported: ${[...new Set(exported.map((s) => s.split('{')[0]))].join(', ')})`);
  return found;
}

/** The labels of an exported series, as promtool expects them on the alert. */
function labelsOf(s: string): Record<string, string> {
  return Object.fromEntries([...s.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
}

type Firing = { labels: Record<string, string>; annotations: Record<string, string> };
type Expect = { at: string; alert: string; firing: Firing[] };

async function promtoolTest(name: string, input: { series: string; values: string }[], expects: Expect[]): Promise<void> {
  const dir = tempDir('tuf-mirror-promtool-');
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(
    file,
    YAML.stringify({
      rule_files: [RULES],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: input,
          alert_rule_test: expects.map((e) => ({ eval_time: e.at, alertname: e.alert, exp_alerts: e.firing.map((f) => ({ exp_labels: f.labels, exp_annotations: f.annotations })) })),
        },
      ],
    }),
  );
  const r = await run(['test', 'rules', file]);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /SUCCESS/);
}

describe('deploy/prometheus/tuf-mirror-rules.yaml', { skip }, () => {
  test('promtool check rules: valid', async () => {
    const r = await run(['check', 'rules', RULES]);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /SUCCESS: \d+ rules found/);
  });

  test('every metric the rules use is one /metrics exports', () => {
    const rules = YAML.parse(fs.readFileSync(RULES, 'utf8')) as { groups: { rules: { expr: string }[] }[] };
    const used = new Set(rules.groups.flatMap((g) => g.rules.flatMap((r) => [...r.expr.matchAll(/tuf_mirror_\w+/g)].map((m) => m[0]))));
    for (const name of used) series(name);
  });

  test('a timestamp running down: warning after 10m, then critical and the warning ends, then expired', async () => {
    const ts = series('tuf_mirror_role_expires_timestamp_seconds', { role: 'timestamp' });
    const root = series('tuf_mirror_role_expires_timestamp_seconds', { role: 'root' });
    // promtool's clock starts at 0: expiring at 2d 30m means 2d 30m left at the start.
    const expires = 2 * 86400 + 30 * 60;
    const role = labelsOf(ts);
    const description = 'The mirrored timestamp metadata expires soon. Check that the mirror still syncs (tuf_mirror_last_sync_success_timestamp_seconds) and that the upstream still re-signs.';
    await promtoolTest(
      'timestamp',
      [
        { series: ts, values: `${expires}+0x3000` },
        { series: root, values: `${365 * 86400}+0x3000` },
      ],
      [
        { at: '5m', alert: 'TufMirrorRoleExpiringSoon', firing: [] }, // pending: `for: 10m`
        { at: '15m', alert: 'TufMirrorRoleExpiringSoon', firing: [{ labels: { ...role, severity: 'warning' }, annotations: { summary: 'sigstore: timestamp expires in 2d 0h 15m 0s', description } }] },
        { at: '15m', alert: 'TufMirrorRoleExpiryCritical', firing: [] },
        { at: '50m', alert: 'TufMirrorRoleExpiringSoon', firing: [] }, // 2d - 20m left: critical's stage
        {
          at: '50m',
          alert: 'TufMirrorRoleExpiryCritical',
          firing: [{ labels: { ...role, severity: 'critical' }, annotations: { summary: 'sigstore: timestamp expires in 1d 23h 40m 0s: admission will fail cluster-wide when it does' } }],
        },
        { at: '50m', alert: 'TufMirrorRoleExpired', firing: [] },
        { at: '49h', alert: 'TufMirrorRoleExpiryCritical', firing: [] },
        {
          at: '49h',
          alert: 'TufMirrorRoleExpired',
          firing: [{ labels: { ...role, severity: 'critical' }, annotations: { summary: 'sigstore: timestamp has EXPIRED: clients reject the mirrored trust root' } }],
        },
      ],
    );
  });

  test('no successful sync: stale after 6h, critical after 24h (and no longer stale); never where the watch judges freshness by the timestamp', async () => {
    const last = series('tuf_mirror_last_sync_success_timestamp_seconds');
    const state = series('tuf_mirror_watch_state', { item: 'sync' });
    const labels = labelsOf(last);
    // A repository signed here (a bridge, an origin) or fed by archives: its watch keeps `sync` ok.
    const elsewhere = (s: string) => s.replace('repository="sigstore"', 'repository="site"');
    await promtoolTest(
      'sync',
      [
        { series: last, values: '0+0x1600' },
        { series: state, values: '0x359 1x1080 2x160' },
        { series: elsewhere(last), values: '0+0x1600' },
        { series: elsewhere(state), values: '0+0x1600' },
      ],
      [
        { at: '5h', alert: 'TufMirrorSyncStale', firing: [] },
        { at: '7h', alert: 'TufMirrorSyncStale', firing: [{ labels: { ...labels, severity: 'warning' }, annotations: { summary: 'sigstore: no successful sync for 7h 0m 0s' } }] },
        { at: '25h', alert: 'TufMirrorSyncStale', firing: [] },
        { at: '25h', alert: 'TufMirrorSyncStaleCritical', firing: [{ labels: { ...labels, severity: 'critical' }, annotations: { summary: 'sigstore: no successful sync for 1d 1h 0m 0s' } }] },
      ],
    );
  });

  test("nothing served, the mirror's own critical verdict, failing webhook deliveries", async () => {
    const generation = series('tuf_mirror_generation');
    const state = series('tuf_mirror_watch_state', { item: 'role:timestamp' });
    const failed = series('tuf_mirror_webhook_deliveries_total', { outcome: 'failed' });
    await promtoolTest(
      'state',
      [
        { series: generation, values: '0+0x30' },
        { series: state, values: '2+0x30' },
        { series: failed, values: '0+1x30' },
      ],
      [
        { at: '10m', alert: 'TufMirrorNothingServed', firing: [] },
        {
          at: '20m',
          alert: 'TufMirrorNothingServed',
          firing: [{ labels: { ...labelsOf(generation), severity: 'critical' }, annotations: { summary: 'sigstore: the mirror holds no verified generation' } }],
        },
        {
          at: '10m',
          alert: 'TufMirrorWatchCritical',
          firing: [{ labels: { ...labelsOf(state), severity: 'critical' }, annotations: { summary: 'sigstore: role:timestamp is critical or expired (see the status page)' } }],
        },
        {
          at: '10m',
          alert: 'TufMirrorWebhookDeliveryFailing',
          firing: [{ labels: { ...labelsOf(failed), severity: 'warning' }, annotations: { summary: 'tuf-mirror could not deliver alerts to http://127.0.0.1:9/hook' } }],
        },
      ],
    );
  });
});
