/**
 * Hostile and damaged archives. The archive is untrusted transport: every alteration must fail
 * the import with a precise code, be recorded as a failed run, and change nothing that is held
 * or served.
 */
import assert from 'node:assert/strict';
import * as zlib from 'node:zlib';
import { after, before, describe, mock, test } from 'node:test';
import type { Config } from '../../config/config';
import type { Service } from '../../server/service';
import { exportGeneration } from '../../sync/export';
import type { SyncErrorCode } from '../../sync/errors';
import type { ImportResult } from '../../sync/import';
import { alter, alterSigned, filesOf, forgeArchive, importBytes, manifestOf, membersOf, rawArchive } from '../helpers/archive';
import { FIXTURE, FIXTURE_NOW, get, ifStarted, readTree, startMirror, testConfig } from '../helpers/mirror';
import { flipByte, generateKey, TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const fixture = readTree(FIXTURE);
const TRUSTED_ROOT = 'targets/6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66.trusted_root.json';
const mirrors: Service[] = [];
let upstream: UpstreamServer;

async function mirror(anchor: string | Buffer, upstreamUrl = 'http://127.0.0.1:9/unused', extra: Record<string, unknown> = {}): Promise<{ mirror: Service; config: Config }> {
  const config = testConfig([{ upstream: upstreamUrl, anchor }], extra);
  const m = await startMirror(config);
  mirrors.push(m);
  return { mirror: m, config };
}

function expectFailure(result: ImportResult, code: SyncErrorCode, role?: string | null, message?: RegExp): void {
  assert.equal(result.outcome, 'failed', `expected ${code}, got ${JSON.stringify(result)}`);
  assert.equal(result.error.code, code, result.error.message);
  if (role !== undefined) assert.equal(result.error.role ?? null, role, result.error.message);
  if (message) assert.match(result.error.message, message);
}

before(() => mock.timers.enable({ apis: ['Date'], now: FIXTURE_NOW }));
after(async () => {
  await Promise.all(mirrors.map((m) => m.close()));
  await ifStarted(upstream)?.close();
  mock.timers.reset();
});

describe('the real public-good archive, altered, into an empty mirror anchored at root v1', () => {
  let archive: Buffer;
  let receiver: Service;
  let config: Config;

  before(async () => {
    upstream = await startUpstreamServer(FIXTURE);
    const { mirror: source, config: sourceConfig } = await mirror(`${FIXTURE}/1.root.json`, upstream.url);
    assert.equal((await source.syncAll())[0].outcome, 'updated');
    archive = exportGeneration(source.store, sourceConfig.repositories[0]).bytes;
    ({ mirror: receiver, config } = await mirror(`${FIXTURE}/1.root.json`));
  });

  /** Import, expect the code, and prove the receiver still holds and serves nothing. */
  async function rejected(bytes: Buffer, code: SyncErrorCode, role?: string | null, message?: RegExp, options: { maxBytes?: number } = {}): Promise<void> {
    const result = await importBytes(receiver, config, bytes, options);
    expectFailure(result, code, role, message);
    const run = receiver.store.lastSyncRun('sigstore')!;
    assert.equal(run.outcome, 'failed');
    assert.equal(run.error?.code, code);
    assert.equal(receiver.store.currentGeneration('sigstore'), undefined, 'no generation');
    assert.deepEqual(receiver.store.roots('sigstore'), [], 'no root recorded');
    assert.equal((await get(`${receiver.url}/timestamp.json`)).status, 503, 'nothing served');
  }

  const members: [string, string, (b: Buffer) => Buffer, SyncErrorCode, string][] = [
    ['an intermediate root', '2.root.json', alterSigned, 'UNSIGNED_METADATA', 'root'],
    ['the newest root', '15.root.json', alterSigned, 'UNSIGNED_METADATA', 'root'],
    ['the timestamp', 'timestamp.json', alterSigned, 'UNSIGNED_METADATA', 'timestamp'],
    ['the snapshot', '165.snapshot.json', alterSigned, 'UNSIGNED_METADATA', 'snapshot'],
    ['the top-level targets', '14.targets.json', alterSigned, 'UNSIGNED_METADATA', 'targets'],
    ['a target file', TRUSTED_ROOT, (b) => flipByte(b), 'LENGTH_OR_HASH_MISMATCH', 'targets/trusted_root.json'],
    ['the timestamp, made invalid JSON', 'timestamp.json', (b) => flipByte(b, 0), 'MALFORMED_METADATA', 'timestamp'],
  ];

  for (const [what, file, change] of members) {
    test(`one byte of ${what} changed, manifest left alone: ARCHIVE_MANIFEST_MISMATCH naming it`, async () => {
      const altered = await alter(archive, (files) => files.set(file, change(files.get(file)!)), false);
      await rejected(altered, 'ARCHIVE_MANIFEST_MISMATCH', null, new RegExp(`${file.replace(/\./g, '\\.')} is \\d+ bytes with sha256`));
    });
  }

  for (const [what, file, change, code, role] of members) {
    test(`one byte of ${what} changed and the manifest rewritten to match: ${code} [${role}]`, async () => {
      await rejected(await alter(archive, (files) => files.set(file, change(files.get(file)!)), true), code, role);
    });
  }

  test('a member dropped: ARCHIVE_MANIFEST_MISMATCH, or with the manifest rewritten ARCHIVE_INCOMPLETE for what TUF needs', async () => {
    await rejected(await alter(archive, (f) => f.delete('165.snapshot.json'), false), 'ARCHIVE_MANIFEST_MISMATCH', null, /165\.snapshot\.json is listed but missing/);
    await rejected(await alter(archive, (f) => f.delete('165.snapshot.json'), true), 'ARCHIVE_INCOMPLETE', 'snapshot', /has no 165\.snapshot\.json/);
    await rejected(await alter(archive, (f) => f.delete(TRUSTED_ROOT), true), 'ARCHIVE_INCOMPLETE', 'targets/trusted_root.json');
    // A gap in the root chain is not its end.
    await rejected(await alter(archive, (f) => f.delete('8.root.json'), true), 'ARCHIVE_INCOMPLETE', 'root', /but not v8/);
  });

  test('a delegated role altered or dropped: the import commits the rest, the role recorded as not mirrored', async () => {
    // A receiver of its own: these imports commit.
    for (const [change, code] of [
      [(f: Map<string, Buffer>) => f.set('8.registry.npmjs.org.json', alterSigned(f.get('8.registry.npmjs.org.json')!)), 'UNSIGNED_METADATA'],
      [(f: Map<string, Buffer>) => f.delete('8.registry.npmjs.org.json'), 'ARCHIVE_INCOMPLETE'],
    ] as const) {
      const { mirror: other, config: otherConfig } = await mirror(`${FIXTURE}/1.root.json`);
      const result = await importBytes(other, otherConfig, await alter(archive, change, true));
      assert.equal(result.outcome, 'updated', JSON.stringify(result));
      assert.deepEqual(
        result.generation.summary.failedRoles?.map((f) => [f.role, f.code, f.servedVersion]),
        [['registry.npmjs.org', code, null]],
      );
      assert.equal((await get(`${other.url}/8.registry.npmjs.org.json`)).status, 404);
      assert.ok((await get(`${other.url}/targets/trusted_root.json`)).body.equals(fixture.get(TRUSTED_ROOT)!));
      assert.ok(other.store.resolvedTarget(result.generation.id, 'trusted_root.json')?.bytes.equals(fixture.get(TRUSTED_ROOT)!));
    }
  });

  test('a member added that the manifest does not list: ARCHIVE_MANIFEST_MISMATCH', async () => {
    await rejected(await alter(archive, (f) => f.set('16.root.json', fixture.get('15.root.json')!), false), 'ARCHIVE_MANIFEST_MISMATCH', null, /16\.root\.json is not listed/);
  });

  test('a member named like an Object.prototype member is not listed either (the manifest is read by own property)', async () => {
    for (const name of ['constructor', '__proto__', 'toString']) {
      await rejected(await alter(archive, (f) => f.set(name, Buffer.from('{}')), false), 'ARCHIVE_MANIFEST_MISMATCH', null, new RegExp(`${name} is not listed`));
    }
  });

  test('a member over the size TUF allows for it: RESPONSE_TOO_LARGE', async () => {
    // Spaces keep the JSON valid: only a size cap stops it.
    const padded = (b: Buffer) => Buffer.concat([b, Buffer.alloc(20_000, ' ')]);
    await rejected(await alter(archive, (f) => f.set('timestamp.json', padded(f.get('timestamp.json')!)), true), 'RESPONSE_TOO_LARGE', 'timestamp');
  });

  test('the manifest damaged, missing, of another format, or beside unexpected members: ARCHIVE_INVALID', async () => {
    const members = await membersOf(archive);
    const manifest = members.get('manifest.json')!;
    const rest = [...members].filter(([p]) => p !== 'manifest.json').map(([path, bytes]) => ({ path, bytes }));
    await rejected(rawArchive([{ path: 'manifest.json', bytes: flipByte(manifest, 0) }, ...rest]), 'ARCHIVE_INVALID', null, /manifest\.json is not JSON/);
    await rejected(rawArchive(rest), 'ARCHIVE_INVALID', null, /no manifest\.json/);
    const v2 = Buffer.from(JSON.stringify({ ...(await manifestOf(archive)), formatVersion: 2 }));
    await rejected(rawArchive([{ path: 'manifest.json', bytes: v2 }, ...rest]), 'ARCHIVE_INVALID', null, /format version 2/);
    await rejected(rawArchive([{ path: 'manifest.json', bytes: Buffer.from('{"format":"zip"}') }, ...rest]), 'ARCHIVE_INVALID', null, /not a tuf-mirror manifest/);
    await rejected(rawArchive([{ path: 'manifest.json', bytes: manifest }, { path: 'README', bytes: Buffer.from('hi') }, ...rest]), 'ARCHIVE_INVALID', null, /unexpected member "README"/);
  });

  test('not a tar.gz, truncated or empty: ARCHIVE_INVALID', async () => {
    await rejected(archive.subarray(0, archive.length >> 1), 'ARCHIVE_INVALID', null, /truncated/);
    await rejected(archive.subarray(0, archive.length - 4), 'ARCHIVE_INVALID', null, /truncated/);
    await rejected(Buffer.from('{"signed":{}}'), 'ARCHIVE_INVALID', null, /not gzip-compressed/);
    await rejected(zlib.gzipSync(Buffer.alloc(4096, 'x')), 'ARCHIVE_INVALID', null, /does not hold a tar archive/);
    await rejected(Buffer.alloc(0), 'ARCHIVE_INVALID', null, /empty/);
    await rejected(zlib.gzipSync(zlib.gzipSync(Buffer.alloc(4096))), 'ARCHIVE_INVALID', null, /does not hold a tar archive/);
  });

  test('unsafe members: absolute, "..", links, directories, devices, duplicates: ARCHIVE_INVALID', async () => {
    const manifest = (await membersOf(archive)).get('manifest.json')!;
    const withMember = (m: Parameters<typeof rawArchive>[0][number]) => rawArchive([{ path: 'manifest.json', bytes: manifest }, m]);
    const ts = fixture.get('timestamp.json')!;
    await rejected(withMember({ path: '/etc/passwd', bytes: ts }), 'ARCHIVE_INVALID', null, /absolute path/);
    await rejected(withMember({ path: 'repository/../../timestamp.json', bytes: ts }), 'ARCHIVE_INVALID', null, /"\.\." segment/);
    await rejected(withMember({ path: 'repository/./timestamp.json', bytes: ts }), 'ARCHIVE_INVALID', null, /"\." or/);
    await rejected(withMember({ path: 'repository\\timestamp.json', bytes: ts }), 'ARCHIVE_INVALID', null, /backslash/);
    await rejected(withMember({ path: 'repository/timestamp.json', bytes: Buffer.alloc(0), type: 'SymbolicLink', linkpath: '/etc/passwd' }), 'ARCHIVE_INVALID', null, /SymbolicLink entries/);
    await rejected(withMember({ path: 'repository/timestamp.json', bytes: Buffer.alloc(0), type: 'Link', linkpath: 'manifest.json' }), 'ARCHIVE_INVALID', null, /Link entries/);
    await rejected(withMember({ path: 'repository/targets', bytes: Buffer.alloc(0), type: 'Directory' }), 'ARCHIVE_INVALID', null, /Directory entries/);
    await rejected(withMember({ path: 'repository/dev', bytes: Buffer.alloc(0), type: 'CharacterDevice' }), 'ARCHIVE_INVALID', null, /CharacterDevice entries/);
    await rejected(
      rawArchive([
        { path: 'manifest.json', bytes: manifest },
        { path: 'repository/timestamp.json', bytes: ts },
        { path: 'repository/timestamp.json', bytes: ts },
      ]),
      'ARCHIVE_INVALID',
      null,
      /a second member with this name/,
    );
  });

  test('over import.maxBytes, compressed or unpacked (a gzip bomb): RESPONSE_TOO_LARGE', async () => {
    await rejected(archive, 'RESPONSE_TOO_LARGE', null, /the archive is \d+ bytes, more than the 1000 allowed/, { maxBytes: 1000 });
    const bomb = forgeArchive(new Map([['timestamp.json', Buffer.alloc(8 * 1024 * 1024)]]));
    assert.ok(bomb.length < 64 * 1024);
    await rejected(bomb, 'RESPONSE_TOO_LARGE', null, /unpacked content is more than the 1048576 bytes/, { maxBytes: 1024 * 1024 });
  });

  test('after every rejection, the honest archive still imports', async () => {
    const result = await importBytes(receiver, config, archive);
    assert.equal(result.outcome, 'updated', JSON.stringify(result));
    assert.ok((await get(`${receiver.url}/timestamp.json`)).body.equals(fixture.get('timestamp.json')!));
  });
});

describe('a mirror holding a generation, given replayed, forged and foreign archives', () => {
  const repo = new TestRepository();
  repo.addTarget('trusted_root.json', '{"v":1}\n');
  repo.addDelegation('npm', { paths: ['npm/*'] });
  repo.addTarget('npm/keys.json', '{"keys":[1]}\n', { role: 'npm' });
  repo.publish();

  let source: Service;
  let sourceConfig: Config;
  let receiver: Service;
  let config: Config;
  let upstream2: UpstreamServer;
  const exports: Buffer[] = [];

  async function nextExport(change: () => void): Promise<Buffer> {
    change();
    repo.publish();
    assert.equal((await source.syncAll())[0].outcome, 'updated');
    const bytes = exportGeneration(source.store, sourceConfig.repositories[0]).bytes;
    exports.push(bytes);
    return bytes;
  }

  async function served(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const p of ['timestamp.json', 'root.json', 'snapshot.json', 'targets.json', 'npm.json', 'targets/trusted_root.json', 'targets/npm/keys.json']) {
      const res = await get(`${receiver.url}/${p}`);
      assert.equal(res.status, 200, p);
      out.set(p, res.body.toString('base64'));
    }
    return out;
  }

  async function rejected(bytes: Buffer, code: SyncErrorCode, role: string): Promise<void> {
    const before = await served();
    const generation = receiver.store.currentGeneration('sigstore')!.id;
    const roots = receiver.store.roots('sigstore');
    expectFailure(await importBytes(receiver, config, bytes), code, role);
    assert.equal(receiver.store.lastSyncRun('sigstore')!.error?.code, code);
    assert.equal(receiver.store.currentGeneration('sigstore')!.id, generation, 'generation unchanged');
    assert.deepEqual(receiver.store.roots('sigstore'), roots, 'roots unchanged');
    assert.deepEqual(await served(), before, 'served bytes unchanged');
  }

  before(async () => {
    upstream2 = await startUpstreamServer(() => repo.files());
    ({ mirror: source, config: sourceConfig } = await mirror(repo.rootBytes(1), upstream2.url));
    assert.equal((await source.syncAll())[0].outcome, 'updated');
    exports.push(exportGeneration(source.store, sourceConfig.repositories[0]).bytes);
    await nextExport(() => repo.addTarget('trusted_root.json', '{"v":2}\n'));
    ({ mirror: receiver, config } = await mirror(repo.rootBytes(1)));
    assert.equal((await importBytes(receiver, config, exports[1])).outcome, 'updated');
  });
  after(() => upstream2.close());

  test('an older archive (a replay): BAD_VERSION', async () => {
    await rejected(exports[0], 'BAD_VERSION', 'timestamp');
  });

  test('a newer archive with an older timestamp swapped in: BAD_VERSION', async () => {
    const next = await nextExport(() => repo.addTarget('trusted_root.json', '{"v":3}\n'));
    const old = (await filesOf(exports[0])).get('timestamp.json')!;
    await rejected(await alter(next, (f) => f.set('timestamp.json', old), true), 'BAD_VERSION', 'timestamp');
  });

  test('metadata signed with a foreign key: UNSIGNED_METADATA', async () => {
    const next = exports.at(-1)!;
    const foreign = [generateKey()];
    const forgedTimestamp = repo.forge('timestamp', (s) => s.version++, foreign);
    await rejected(await alter(next, (f) => f.set('timestamp.json', forgedTimestamp), true), 'UNSIGNED_METADATA', 'timestamp');
    const snapshotVersion = repo.metadata('snapshot').signed.version;
    const forgedSnapshot = repo.forge('snapshot', () => undefined, foreign);
    await rejected(await alter(next, (f) => f.set(`${snapshotVersion}.snapshot.json`, forgedSnapshot), true), 'UNSIGNED_METADATA', 'snapshot');
  });

  test('a delegated role signed with a foreign key: the import commits the rest, the last verified role still served', async () => {
    // A receiver of its own: this import commits (its timestamp and snapshot are genuine).
    const { mirror: other, config: otherConfig } = await mirror(repo.rootBytes(1));
    assert.equal((await importBytes(other, otherConfig, exports[1])).outcome, 'updated');
    const npmBefore = (await get(`${other.url}/npm.json`)).body;
    const next = exports.at(-1)!;
    const foreign = [generateKey()];
    const snapshotVersion = repo.metadata('snapshot').signed.version;
    // A new version of the delegated role, signed by a foreign key, named by an honest snapshot and timestamp.
    const npmVersion = repo.metadata('npm').signed.version + 1;
    const forgedNpm = repo.forge('npm', (s) => (s.version = npmVersion), foreign);
    const snapshot = repo.forge('snapshot', (s) => {
      s.version++;
      s.meta['npm.json'] = { version: npmVersion };
    });
    const timestamp = repo.forge('timestamp', (s) => {
      s.version++;
      s.meta['snapshot.json'] = { version: snapshotVersion + 1 };
    });
    const chain = await alter(
      next,
      (f) =>
        f
          .set(`${npmVersion}.npm.json`, forgedNpm)
          .set(`${snapshotVersion + 1}.snapshot.json`, snapshot)
          .set('timestamp.json', timestamp),
      true,
    );
    const result = await importBytes(other, otherConfig, chain);
    assert.equal(result.outcome, 'updated', JSON.stringify(result));
    assert.deepEqual(
      result.generation.summary.failedRoles?.map((f) => [f.role, f.code]),
      [['npm', 'UNSIGNED_METADATA']],
    );
    assert.equal((await get(`${other.url}/${npmVersion}.npm.json`)).status, 404, 'the forged role is not served');
    assert.ok((await get(`${other.url}/npm.json`)).body.equals(npmBefore), 'the last verified role is');
  });

  test('a target file replaced: LENGTH_OR_HASH_MISMATCH', async () => {
    const next = exports.at(-1)!;
    const [name] = repo.targetFiles('trusted_root.json');
    await rejected(await alter(next, (f) => f.set(name, Buffer.from('{"v":4}\n')), true), 'LENGTH_OR_HASH_MISMATCH', 'targets/trusted_root.json');
  });

  test('an archive of another repository: UNSIGNED_METADATA, for its roots or its timestamp', async () => {
    const other = new TestRepository();
    other.addTarget('trusted_root.json', '{"other":true}\n');
    other.publish();
    await rejected(forgeArchive(other.files()), 'UNSIGNED_METADATA', 'timestamp');
    other.rotateRoot({ replaceKeys: ['root'] });
    await rejected(forgeArchive(other.files()), 'UNSIGNED_METADATA', 'root');
  });

  test('after every rejection, the honest newer archive imports', async () => {
    const result = await importBytes(receiver, config, exports.at(-1)!);
    assert.equal(result.outcome, 'updated', JSON.stringify(result));
    assert.equal((await get(`${receiver.url}/targets/trusted_root.json`)).body.toString(), '{"v":3}\n');
    assert.equal((await importBytes(receiver, config, exports.at(-1)!)).outcome, 'unchanged');
  });
});
