/**
 * Webhook URLs with `user:password@`: fetch() refuses such URLs, so they never worked, and the
 * error naming the URL went to the log on every attempt. Now the credentials become a Basic
 * header and no log line holds them. A real receiver on 127.0.0.1 and a logger whose lines are
 * kept.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { redactUrlsIn } from '../../lib/log';
import { WebhookNotifier, type Alert } from '../../watch/webhooks';
import { startReceiver } from '../helpers/receiver';

const alert: Alert = {
  kind: 'state-change',
  repository: 'sigstore',
  item: 'role:timestamp',
  state: 'warning',
  previousState: 'ok',
  severity: 'warning',
  message: 'timestamp expires soon',
  at: '2026-08-26T00:00:00.000Z',
};

function capturingLogger(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write: (chunk: Buffer, _enc, done) => {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

test('user:password@ in a webhook URL becomes a Basic Authorization header; no log line holds the password', async () => {
  const receiver = await startReceiver();
  const { logger, lines } = capturingLogger();
  try {
    const url = receiver.url.replace('http://', 'http://alert%40ops:s3cr%3At@');
    const notifier = new WebhookNotifier([{ url, format: 'generic' }], logger, { attempts: 1 });
    notifier.send(alert);
    await notifier.drain();
    assert.equal(receiver.received.length, 1);
    assert.equal(receiver.received[0].headers.authorization, `Basic ${Buffer.from('alert@ops:s3cr:t').toString('base64')}`);
    assert.deepEqual(
      [...notifier.stats.values()].map((s) => s.delivered),
      [1],
    );
  } finally {
    await receiver.close();
  }
  // A receiver that is down: the failure is logged, the credentials are not.
  const notifier = new WebhookNotifier([{ url: 'http://alert:s3cret@127.0.0.1:9/hook', format: 'generic' }], logger, { attempts: 1 });
  notifier.send(alert);
  await notifier.drain();
  assert.ok(lines.some((l) => l.includes('alert delivery failed; giving up')));
  for (const l of lines) assert.doesNotMatch(l, /s3cret|s3cr%3At/, l);
});

test('URLs inside an error message lose their credentials', () => {
  assert.equal(
    redactUrlsIn('Request cannot be constructed from a URL that includes credentials: http://u:p@host:8080/hook'),
    'Request cannot be constructed from a URL that includes credentials: http://host:8080/hook',
  );
  assert.equal(redactUrlsIn('no URL here'), 'no URL here');
});
