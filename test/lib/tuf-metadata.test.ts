/** lib/tuf-metadata.ts: TUF metadata read with @tufjs/models outside the sync, on the real repository and on hostile bytes. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { MetadataError, parseRoot, parseSnapshot, parseTargets, parseTimestamp } from '../../lib/tuf-metadata';
import { FIXTURE } from '../helpers/mirror';

const read = (name: string): Buffer => fs.readFileSync(path.join(FIXTURE, name));

test('the public-good files of 2026-08-21, typed', () => {
  const root = parseRoot(read('15.root.json')).signed;
  assert.equal(root.version, 15);
  assert.equal(root.consistentSnapshot, true);
  assert.deepEqual(Object.keys(root.roles).sort(), ['root', 'snapshot', 'targets', 'timestamp']);
  assert.ok(root.roles.root.keyIDs.every((id) => root.keys[id].keyType.length > 0));
  const timestamp = parseTimestamp(read('timestamp.json')).signed;
  assert.equal(timestamp.snapshotMeta.version, 165);
  const snapshot = parseSnapshot(read('165.snapshot.json')).signed;
  assert.equal(snapshot.meta['targets.json'].version, 14);
  const targets = parseTargets(read('14.targets.json')).signed;
  assert.match(targets.targets['trusted_root.json'].hashes.sha256, /^[0-9a-f]{64}$/);
  assert.ok(parseTargets(read('8.registry.npmjs.org.json'), 'registry.npmjs.org.json').signed.targets['registry.npmjs.org/keys.json']);
});

test('hostile or wrong bytes: MetadataError MALFORMED_METADATA naming the file, never a TypeError', () => {
  const timestamp = read('timestamp.json');
  const ts = JSON.parse(timestamp.toString('utf8'));
  const root = JSON.parse(read('15.root.json').toString('utf8'));
  const { consistent_snapshot: _dropped, ...withoutConsistentSnapshot } = root.signed;
  const cases: [() => unknown, RegExp][] = [
    [() => parseRoot('not json'), /^root\.json is not JSON: /],
    [() => parseRoot(Buffer.from([0xff, 0x00])), /^root\.json is not JSON: /],
    [() => parseRoot('[]'), /^root\.json is not a JSON object$/],
    [() => parseRoot('null'), /^root\.json is not a JSON object$/],
    [() => parseRoot('{}'), /^root\.json is not TUF root metadata: signed is not defined$/],
    [() => parseRoot(timestamp, '16.root.json'), /^16\.root\.json is not TUF root metadata: expected 'root', got timestamp$/],
    [() => parseTimestamp(JSON.stringify({ ...ts, signed: { ...ts.signed, version: 'seven' } })), /^timestamp\.json is not TUF timestamp metadata: version must be a number$/],
    [() => parseTimestamp(JSON.stringify({ ...ts, signed: { ...ts.signed, meta: { 'snapshot.json': { version: 0 } } } })), /Metafile version must be at least 1$/],
    [() => parseRoot(JSON.stringify({ signed: withoutConsistentSnapshot, signatures: root.signatures })), /consistent_snapshot must be a boolean/],
    [() => parseRoot(JSON.stringify({ ...root, signatures: {} })), /signatures is not an array/],
    [() => parseTargets('{"signed":' + '['.repeat(100_000) + ']'.repeat(100_000) + ',"signatures":[]}'), /^targets\.json is not TUF targets metadata: /],
  ];
  for (const [parse, message] of cases) {
    assert.throws(parse, (e: unknown) => (e instanceof MetadataError && message.test(e.message)) || assert.fail(`${String(message)}: got ${String(e)}`));
  }
});
