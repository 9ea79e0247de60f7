/**
 * Everything an upstream can do wrong. Each case must fail the run with a precise code, record
 * it, and leave the last good generation served, byte for byte.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Service } from '../../server/service';
import type { SyncErrorCode } from '../../sync/errors';
import { get, startMirror, testConfig } from '../helpers/mirror';
import { flipByte, generateKey, TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer, type Override, type UpstreamServer } from '../../testing/upstream-server';

const repo = new TestRepository({ roles: { targets: { keys: 3, threshold: 2 } } });
repo.addTarget('trusted_root.json', '{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}\n');
repo.addDelegation('npm', { paths: ['npm/*'], keys: 1 });
repo.addTarget('npm/keys.json', '{"keys":[]}\n', { role: 'npm' });
repo.publish();

let upstream: UpstreamServer;
let mirror: Service;

before(async () => {
  upstream = await startUpstreamServer(() => repo.files());
  // A short request timeout keeps the slow-upstream cases quick.
  mirror = await startMirror(testConfig([{ upstream: upstream.url, anchor: repo.rootBytes(1) }], { sync: { onStart: false, requestTimeoutSeconds: 0.5 } }));
  const [first] = await mirror.syncAll();
  assert.equal(first.outcome, 'updated');
});
after(async () => {
  await mirror.close();
  await upstream.close();
});

/** Snapshot of what the mirror serves, to prove a failed run changed none of it. */
async function served(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const p of ['timestamp.json', 'root.json', 'snapshot.json', 'targets.json', 'npm.json', 'targets/trusted_root.json', 'targets/npm/keys.json']) {
    const res = await get(`${mirror.url}/${p}`);
    assert.equal(res.status, 200, p);
    out.set(p, res.body.toString('base64'));
  }
  return out;
}

async function expectRejected(code: SyncErrorCode, role: string | RegExp, overrides: [string | RegExp, Override][]): Promise<void> {
  const before = await served();
  const generation = mirror.index.generationOf('sigstore');
  const removers = overrides.map(([m, o]) => upstream.override(m, o));
  try {
    const [result] = await mirror.syncAll();
    assert.equal(result.outcome, 'failed', 'the run must fail');
    assert.equal(result.error.code, code, result.error.message);
    if (typeof role === 'string') assert.equal(result.error.role, role, result.error.message);
    else assert.match(result.error.role ?? '', role);
    const recorded = mirror.store.lastSyncRun('sigstore')!;
    assert.equal(recorded.outcome, 'failed');
    assert.equal(recorded.error?.code, code);
  } finally {
    removers.forEach((remove) => remove());
  }
  assert.equal(mirror.index.generationOf('sigstore'), generation, 'generation unchanged');
  assert.deepEqual(await served(), before, 'served bytes unchanged');
}

/** A new targets version (signed by `keys`), with a snapshot and timestamp that honestly point at it. */
function chainFor(role: string, targetsBytes: Buffer): [string, Override][] {
  const targetsVersion = repo.metadata(role).signed.version + 1;
  const snapshotVersion = repo.metadata('snapshot').signed.version + 1;
  const snapshot = repo.forge('snapshot', (s) => {
    s.version = snapshotVersion;
    s.meta[`${role}.json`] = { version: targetsVersion };
  });
  const timestamp = repo.forge('timestamp', (s) => {
    s.version++;
    s.meta['snapshot.json'] = { version: snapshotVersion };
  });
  return [
    [`${targetsVersion}.${role}.json`, { body: targetsBytes }],
    [`${snapshotVersion}.snapshot.json`, { body: snapshot }],
    ['timestamp.json', { body: timestamp }],
  ];
}

const past = '2020-01-01T00:00:00Z';

describe('transport failures', () => {
  test('HTTP 500 for timestamp.json', () => expectRejected('UPSTREAM_HTTP_ERROR', 'timestamp', [['timestamp.json', { status: 500 }]]));
  test('HTTP 500 for the next root (only 403/404 end the root chain)', () => expectRejected('UPSTREAM_HTTP_ERROR', 'root', [['2.root.json', { status: 500 }]]));
  test('HTTP 403 for a snapshot it names', async () => {
    const v = repo.metadata('snapshot').signed.version + 1;
    const timestamp = repo.forge('timestamp', (s) => {
      s.version++;
      s.meta['snapshot.json'] = { version: v };
    });
    await expectRejected('UPSTREAM_HTTP_ERROR', 'snapshot', [
      ['timestamp.json', { body: timestamp }],
      [`${v}.snapshot.json`, { status: 403 }],
    ]);
  });
  test('no headers within the timeout', () => expectRejected('UPSTREAM_TIMEOUT', 'timestamp', [['timestamp.json', { delayMs: 1500 }]]));
  test('a body dripping slower than the timeout', () => expectRejected('UPSTREAM_TIMEOUT', 'timestamp', [['timestamp.json', { drip: { chunkSize: 8, intervalMs: 100 } }]]));
  test('connection dropped before any answer', () => expectRejected('UPSTREAM_UNREACHABLE', 'timestamp', [['timestamp.json', { destroy: 'before-headers' }]]));
  test('connection dropped mid-body', () => expectRejected('UPSTREAM_UNREACHABLE', 'timestamp', [['timestamp.json', { destroy: 'mid-body' }]]));
  test('an oversized timestamp.json (10 MiB)', () => expectRejected('RESPONSE_TOO_LARGE', 'timestamp', [['timestamp.json', { oversizeTo: 10 * 1024 * 1024 }]]));
  test('an oversized root', () => expectRejected('RESPONSE_TOO_LARGE', 'root', [['2.root.json', { body: repo.rootBytes(1), oversizeTo: 10 * 1024 * 1024 }]]));
});

describe('verification failures', () => {
  test('malformed JSON', () => expectRejected('MALFORMED_METADATA', 'timestamp', [['timestamp.json', { body: '{"signed": ' }]]));
  test('JSON that is not TUF metadata', () => expectRejected('MALFORMED_METADATA', 'timestamp', [['timestamp.json', { body: '{"hello":"world"}' }]]));
  test('a timestamp signed by a foreign key', () => expectRejected('UNSIGNED_METADATA', 'timestamp', [['timestamp.json', { body: repo.forge('timestamp', (s) => s.version++, [generateKey()]) }]]));
  test('a timestamp whose signature no longer matches its content', () => {
    const good = JSON.parse(repo.metadataBytes('timestamp').toString());
    good.signed.version++;
    return expectRejected('UNSIGNED_METADATA', 'timestamp', [['timestamp.json', { body: JSON.stringify(good) }]]);
  });
  test('targets signed by 1 key where the threshold is 2', () => {
    const targets = repo.forge('targets', (s) => s.version++, repo.keys('targets').slice(0, 1));
    return expectRejected('UNSIGNED_METADATA', 'targets', chainFor('targets', targets));
  });
  test('a delegated role signed by a key it was not delegated to: the run commits the top-level roles, the role is not mirrored', async () => {
    const before = await served();
    const npm = repo.forge('npm', (s) => s.version++, [generateKey()]);
    const overrides = chainFor('npm', npm);
    const removers = overrides.map(([m, o]) => upstream.override(m, o));
    try {
      const [result] = await mirror.syncAll();
      assert.equal(result.outcome, 'updated', JSON.stringify(result));
      const failed = result.generation.summary.failedRoles?.[0];
      assert.equal(failed?.code, 'UNSIGNED_METADATA', JSON.stringify(failed));
      assert.equal(failed.role, 'npm');
      assert.equal(failed.servedVersion, repo.metadata('npm').signed.version, 'the last verified npm is still served');
      assert.equal(mirror.store.lastSyncRun('sigstore')!.problems?.failedRoles[0].code, 'UNSIGNED_METADATA');
      // The forged npm is not served; the new timestamp and snapshot are.
      assert.equal((await get(`${mirror.url}/${overrides[0][0]}`)).status, 404);
      assert.ok((await get(`${mirror.url}/timestamp.json`)).body.equals(overrides[2][1].body as Buffer));
    } finally {
      removers.forEach((remove) => remove());
    }
    const after = await served();
    for (const p of ['npm.json', 'targets/npm/keys.json', 'targets/trusted_root.json', 'root.json', 'targets.json']) assert.equal(after.get(p), before.get(p), p);
    // The forged timestamp and snapshot were signed with the real keys, so the mirror holds them:
    // the honest repository moves past their versions, and the role is mirrored again.
    for (const n of [2, 3]) {
      repo.addTarget('npm/keys.json', `{"keys":[${n}]}\n`, { role: 'npm' });
      repo.publish();
    }
    const [ok] = await mirror.syncAll();
    assert.equal(ok.outcome, 'updated');
    assert.equal(ok.generation.summary.failedRoles, undefined);
  });
  test('a root rotation signed only by the new keys', () => {
    const newKey = generateKey();
    const root = repo.forge(
      'root',
      (s) => {
        s.version = 2;
        s.keys[newKey.keyID] = newKey.key.toJSON();
        s.roles.root.keyids = [newKey.keyID];
      },
      [newKey],
    );
    return expectRejected('UNSIGNED_METADATA', 'root', [['2.root.json', { body: root }]]);
  });
  test('a rolled-back timestamp (an older genuine version)', () => expectRejected('BAD_VERSION', 'timestamp', [['timestamp.json', { body: repo.metadataBytes('timestamp', 1) }]]));
  test('a timestamp pointing at an older snapshot version', () => {
    const timestamp = repo.forge('timestamp', (s) => {
      s.version++;
      s.meta['snapshot.json'] = { version: 1 };
    });
    return expectRejected('BAD_VERSION', 'timestamp', [['timestamp.json', { body: timestamp }]]);
  });
  test('a snapshot whose version differs from what the timestamp names', () => {
    const v = repo.metadata('snapshot').signed.version + 1;
    const timestamp = repo.forge('timestamp', (s) => {
      s.version++;
      s.meta['snapshot.json'] = { version: v };
    });
    const snapshot = repo.forge('snapshot', (s) => (s.version = v + 5));
    return expectRejected('BAD_VERSION', 'snapshot', [
      ['timestamp.json', { body: timestamp }],
      [`${v}.snapshot.json`, { body: snapshot }],
    ]);
  });
  test('an expired timestamp', () =>
    expectRejected('EXPIRED_METADATA', 'timestamp', [
      [
        'timestamp.json',
        {
          body: repo.forge('timestamp', (s) => {
            s.version++;
            s.expires = past;
          }),
        },
      ],
    ]));
  test('an expires that is not a date (tuf-js alone would take it as never expiring)', () =>
    expectRejected('MALFORMED_METADATA', 'timestamp', [
      [
        'timestamp.json',
        {
          body: repo.forge('timestamp', (s) => {
            s.version++;
            s.expires = 'never';
          }),
        },
      ],
    ]));
  test('an expired targets role', () => {
    const targets = repo.forge('targets', (s) => {
      s.version++;
      s.expires = past;
    });
    return expectRejected('EXPIRED_METADATA', 'targets', chainFor('targets', targets));
  });
  test('a snapshot hash mismatch, where the timestamp pins one', () => {
    const v = repo.metadata('snapshot').signed.version + 1;
    const snapshot = repo.forge('snapshot', (s) => (s.version = v));
    const timestamp = repo.forge('timestamp', (s) => {
      s.version++;
      s.meta['snapshot.json'] = { version: v, length: snapshot.length, hashes: { sha256: '0'.repeat(64) } };
    });
    return expectRejected('LENGTH_OR_HASH_MISMATCH', 'snapshot', [
      ['timestamp.json', { body: timestamp }],
      [`${v}.snapshot.json`, { body: snapshot }],
    ]);
  });
});

describe('target files', () => {
  test('a target whose bytes do not match its signed hash, then the honest one', async () => {
    repo.addTarget('fulcio.crt.pem', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    repo.publish();
    const [file] = repo.targetFiles('fulcio.crt.pem');
    const honest = repo.files().get(file)!;
    await expectRejected('LENGTH_OR_HASH_MISMATCH', 'targets/fulcio.crt.pem', [[file, { body: flipByte(honest) }]]);
    await expectRejected('LENGTH_OR_HASH_MISMATCH', 'targets/fulcio.crt.pem', [[file, { body: honest.subarray(0, 10) }]]);
    await expectRejected('RESPONSE_TOO_LARGE', 'targets/fulcio.crt.pem', [[file, { body: Buffer.concat([honest, Buffer.from('x')]) }]]);
    await expectRejected('UPSTREAM_HTTP_ERROR', 'targets/fulcio.crt.pem', [[file, { status: 404 }]]);

    // With the upstream honest again, the same sync goes through.
    const [ok] = await mirror.syncAll();
    assert.equal(ok.outcome, 'updated');
    assert.ok((await get(`${mirror.url}/${file}`)).body.equals(honest));
  });
});
