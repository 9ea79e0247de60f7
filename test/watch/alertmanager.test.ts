/**
 * Alerts against a real Alertmanager (Debian's prometheus-alertmanager 0.25, started here): a
 * timestamp running down fires a warning, escalates to critical (the warning ends), and resolves
 * (the critical ends), asserted through Alertmanager's own v2 API and the resolved notifications
 * it sends on. Alertmanager identifies an alert by its label set: a resolution that does not
 * carry the labels the alert fired with resolves nothing.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Service } from '../../server/service';
import { Alertmanager, alertmanagerBinary, type AmAlert } from '../helpers/alertmanager';
import { FIXTURE, startMirror, testConfig } from '../helpers/mirror';
import { startReceiver } from '../helpers/receiver';
import { TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';
import { waitFor } from '../helpers/wait';

const binary = alertmanagerBinary();
const skip = binary ? false : 'prometheus-alertmanager is not installed (.ci/run installs it: apt-get install prometheus-alertmanager)';

const DAY = 86400_000;
const repo = new TestRepository();
// Public-good's trusted_root.json: one that fails the compatibility gate would fire an alert of its own.
repo.addTarget('trusted_root.json', fs.readFileSync(path.join(FIXTURE, 'targets', '6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66.trusted_root.json')));
repo.setExpiry('timestamp', new Date(Date.now() + 3 * DAY)); // under the 5d warning threshold
repo.publish();

let am: Alertmanager;
let notifications: Awaited<ReturnType<typeof startReceiver>>;
let upstream: UpstreamServer;
let mirror: Service;
/** How to close what before() started, in order: before() can stop half-way, and after() closes only what it got to. */
const closers: (() => Promise<unknown>)[] = [];

before(async () => {
  if (skip) return;
  notifications = await startReceiver();
  closers.push(() => notifications.close());
  am = await Alertmanager.start({ binary, notify: notifications.url });
  closers.push(() => am.stop());
  upstream = await startUpstreamServer(() => repo.files());
  closers.push(() => upstream.close());
  mirror = await startMirror(testConfig([{ upstream: upstream.url, anchor: repo.rootBytes(1) }], { alerts: { webhooks: [{ url: `${am.url}/api/v2/alerts`, format: 'alertmanager' }] } }), {
    webhooks: { attempts: 3, backoffMs: 20 },
    evaluateIntervalMs: 3_600_000,
  });
  closers.push(() => mirror.close());
});
after(async () => {
  for (const close of closers.reverse()) await close();
});

/** Sync (which evaluates and notifies), wait for the deliveries, then read what Alertmanager holds for the timestamp. */
async function syncAndRead(): Promise<AmAlert[]> {
  const [result] = await mirror.syncAll();
  assert.notEqual(result.outcome, 'failed', JSON.stringify(result));
  await mirror.notifier.drain();
  return (await am.alerts()).filter((a) => a.labels.item === 'role:timestamp');
}
const severities = (alerts: AmAlert[]): string[] => alerts.map((a) => a.labels.severity).sort();

/** Notifications Alertmanager sent on for the timestamp, as `status severity`. */
const sentOn = (): string[] =>
  notifications.received.flatMap((r) =>
    ((r.body as { alerts?: { status: string; labels: Record<string, string> }[] }).alerts ?? []).filter((a) => a.labels.item === 'role:timestamp').map((a) => `${a.status} ${a.labels.severity}`),
  );

describe('Alertmanager: fire, escalate, resolve', { skip }, () => {
  test('3 days left: one warning fires, labelled as the rules and the README say', async () => {
    const alerts = await syncAndRead();
    assert.deepEqual(severities(alerts), ['warning']);
    assert.deepEqual(alerts[0].labels, { alertname: 'TufMirrorRoleExpiry', repository: 'sigstore', item: 'role:timestamp', role: 'timestamp', severity: 'warning' });
    assert.equal(alerts[0].status.state, 'active');
    await waitFor(() => Promise.resolve(sentOn().includes('firing warning') || undefined), 'Alertmanager to notify the warning');
  });

  test('1 day left: the critical fires and the warning ends (an escalation, not two alerts)', async () => {
    repo.setExpiry('timestamp', new Date(Date.now() + DAY));
    repo.publish();
    const alerts = await syncAndRead();
    assert.deepEqual(severities(alerts), ['critical']);
    await waitFor(() => Promise.resolve((sentOn().includes('firing critical') && sentOn().includes('resolved warning')) || undefined), 'Alertmanager to notify the critical and the resolved warning');
  });

  test('a fresh timestamp: the critical resolves, nothing stays active', async () => {
    repo.setExpiry('timestamp', new Date(Date.now() + 30 * DAY));
    repo.publish();
    assert.deepEqual(await syncAndRead(), []);
    assert.deepEqual(await am.alerts(), [], 'nothing else fired either');
    await waitFor(() => Promise.resolve(sentOn().includes('resolved critical') || undefined), 'Alertmanager to notify the resolved critical');
  });

  test('control: a resolution with other labels (the old severity: info) leaves the alert firing for its 30 days', async () => {
    const at = new Date().toISOString();
    const labels = { alertname: 'TufMirrorRoleExpiry', repository: 'control', item: 'role:timestamp', role: 'timestamp' };
    await am.post([{ labels: { ...labels, severity: 'warning' }, startsAt: at, endsAt: new Date(Date.now() + 30 * DAY).toISOString() }]);
    await am.post([{ labels: { ...labels, severity: 'info' }, startsAt: at, endsAt: at }]);
    assert.deepEqual(
      (await am.alerts()).filter((a) => a.labels.repository === 'control').map((a) => a.labels.severity),
      ['warning'],
    );
  });
});
