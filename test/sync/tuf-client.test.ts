/**
 * What sync/tuf-client.ts relies on from @tufjs/models, and its target search against tuf-js's own.
 * An upgrade of either package that changes what the mirror resolves fails here, loudly: the pins
 * in package.json, the model behaviours the name rules exist for, and a differential test that
 * resolves every name of a repository with nested, terminating, hash-prefixed, succinct, cyclic,
 * doubly delegated, expired and over-deep delegations both ways.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Metadata, MetadataKind } from '@tufjs/models';
import { Updater } from 'tuf-js';
import { unsafeRoleName, unsafeTargetName } from '../../lib/layout';
import { packageRoot } from '../../lib/paths';
import type { Service } from '../../server/service';
import { SyncError } from '../../sync/errors';
import { CLIENT_LIMITS, parseTargets } from '../../sync/tuf-client';
import { startMirror, tempDir, testConfig } from '../helpers/mirror';
import { generateKey, TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const packageJson = (dir: string): { version: string; dependencies?: Record<string, string>; devDependencies?: Record<string, string> } =>
  JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));

describe('pins', () => {
  test('tuf-js and @tufjs/models are pinned exactly, and installed as pinned', () => {
    const own = packageJson(packageRoot());
    const pins = { ...own.dependencies, ...own.devDependencies };
    for (const name of ['tuf-js', '@tufjs/models']) {
      const installed = packageJson(path.join(packageRoot(), 'node_modules', name)).version;
      assert.equal(
        pins[name],
        installed,
        `${name} ${installed} is installed, package.json says ${pins[name]}: sync/tuf-client.ts relies on its exact behaviour (see its header); ` + 'upgrade deliberately, with this file passing',
      );
    }
  });
});

describe('@tufjs/models behaviours the name rules rest on', () => {
  // Through JSON text, as metadata always arrives.
  const targets = (roles: string[]) =>
    JSON.parse(
      JSON.stringify({
        signatures: [],
        signed: {
          _type: 'targets',
          spec_version: '1.0.31',
          version: 1,
          expires: '2030-01-01T00:00:00Z',
          targets: {},
          delegations: { keys: {}, roles: roles.map((name) => ({ name, keyids: [], threshold: 1, terminating: false, paths: ['*'] })) },
        },
      }),
    );

  test('a delegation list naming a role twice is refused (the model would keep one silently)', () => {
    const bytes = Buffer.from(JSON.stringify(targets(['a', 'b', 'a'])));
    assert.throws(
      () => parseTargets(bytes, 'targets'),
      (e: unknown) => e instanceof SyncError && e.code === 'MALFORMED_METADATA' && e.message.includes('more than once'),
    );
    assert.equal(Object.keys(Metadata.fromJSON(MetadataKind.Targets, targets(['a', 'b', 'a'])).signed.delegations?.roles ?? {}).length, 2);
  });

  test('integer role names are searched first by tuf-js (hence refused: other clients search in list order)', () => {
    const md = Metadata.fromJSON(MetadataKind.Targets, targets(['b', '1']));
    assert.deepEqual(
      [...(md.signed.delegations?.rolesForTarget('x') ?? [])].map((r) => r.role),
      ['1', 'b'],
    );
    assert.match(unsafeRoleName('1') ?? '', /integer/);
  });

  test('expiry: expired at the instant of `expires`', () => {
    const md = Metadata.fromJSON(MetadataKind.Targets, targets([]));
    assert.equal(md.signed.isExpired(new Date('2030-01-01T00:00:00Z')), true);
    assert.equal(md.signed.isExpired(new Date('2029-12-31T23:59:59Z')), false);
  });

  test('the search visits at most as many roles as clients do', () => {
    assert.equal(CLIENT_LIMITS.maxRolesPerSearch, 32);
  });
});

describe('name rules', () => {
  test('role names: RFC 3986 unreserved characters only, and none that reads as something else', () => {
    for (const ok of ['npm', 'registry.npmjs.org', 'bin-0a', 'A_b~c', 'v1.2']) assert.equal(unsafeRoleName(ok), undefined, ok);
    for (const bad of ['targets/trusted_root', '../x', 'a b', 'a+b', 'a%2Fb', '', '.hidden', '..', '1', '42', '3.snapshot', 'x'.repeat(201), 'a\u0000b', 'ü'])
      assert.ok(unsafeRoleName(bad), JSON.stringify(bad));
  });

  test('target names: plain relative paths, nothing a URL reads otherwise', () => {
    for (const ok of ['trusted_root.json', 'registry.npmjs.org/keys.json', 'a b.txt', 'dir/sub/file', 'ü.txt']) assert.equal(unsafeTargetName(ok), undefined, ok);
    for (const bad of ['../x', 'a/../b', 'a//b', './a', 'a/.', '/abs', 'a\\b', 'C:/x', 'a%2e%2e', 'a?b', 'a#b', 'ctl\u0007', '', 'x'.repeat(1025)])
      assert.ok(unsafeTargetName(bad), JSON.stringify(bad));
  });
});

describe("every name resolves as tuf-js's Updater resolves it", () => {
  const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
  const PAST = new Date('2020-01-01T00:00:00Z');
  const repo = new TestRepository();
  repo.addTarget('top.txt', 'top\n');
  // Top-level delegations, in search order.
  repo.addDelegation('A', { paths: ['a/*', 'shared/*'] });
  repo.addDelegation('T', { paths: ['t/*'], terminating: true });
  repo.addDelegation('H', { pathHashPrefixes: [sha256('h/1.txt').slice(0, 6)] });
  repo.addDelegation('B', { paths: ['shared/*', 'b/*', 't/*'] });
  repo.addDelegation('D', { paths: ['d/*'], expires: PAST });
  repo.addDelegation('bins', { paths: ['bins/*'] });
  repo.addDelegation('L1', { paths: ['deep/*'] });
  // Below A: C (also delegated by B, with keys C does not sign with), A2, and a cycle back to A.
  repo.addDelegation('C', { paths: ['a/c*', 'shared/*'], delegator: 'A' });
  repo.addDelegation('A2', { paths: ['a/*'], delegator: 'A' });
  repo.addDelegation('X', { paths: ['a/x*'], delegator: 'A' });
  repo.addDelegation('A', { paths: ['a/*'], delegator: 'X' });
  repo.addDelegation('C', { paths: ['b/*'], delegator: 'B', keysOverride: [generateKey()] });
  repo.addDelegation('T1', { paths: ['t/*'], delegator: 'T' });
  const bins = repo.addSuccinctDelegation({ delegator: 'bins', bitLength: 2, namePrefix: 'bin' });
  // A chain deeper than a search may go.
  for (let i = 2; i <= 40; i++) repo.addDelegation(`L${i}`, { paths: ['deep/*'], delegator: `L${i - 1}` });

  const listings: [string, string][] = [
    ['A', 'a/1'],
    ['A', 'shared/s'],
    ['C', 'a/c1'],
    ['C', 'shared/c'],
    ['C', 'shared/s'],
    ['C', 'b/c1'],
    ['A2', 'a/2'],
    ['A2', 'a/c1'],
    ['X', 'a/x1'],
    ['T1', 't/1'],
    ['B', 'b/1'],
    ['B', 'shared/only-b'],
    ['B', 't/1'],
    ['B', 't/2'],
    ['H', 'h/1.txt'],
    ['D', 'd/1'],
    [repo.binFor('bins/x', 'bins'), 'bins/x'],
    [repo.binFor('bins/y', 'bins'), 'bins/y'],
    ['L10', 'deep/10'],
    ['L40', 'deep/40'],
  ];
  for (const [role, name] of listings) repo.addTarget(name, `${role}: ${name}\n`, { role });
  repo.publish();
  const names = [...new Set([...listings.map(([, n]) => n), 'top.txt', 'nothing/n', 'a/none'])].sort();

  let upstream: UpstreamServer;
  let mirror: Service;
  let anchor: string;
  before(async () => {
    assert.equal(bins.length, 4);
    upstream = await startUpstreamServer(() => repo.files());
    const dataDir = tempDir();
    anchor = path.join(dataDir, 'anchor.json');
    fs.writeFileSync(anchor, repo.rootBytes(1));
    mirror = await startMirror(testConfig([{ upstream: upstream.url, anchor }], {}, dataDir));
  });
  after(async () => {
    await mirror.close();
    await upstream.close();
  });

  /** What a fresh tuf-js client (one per name, as @sigstore/tuf runs it) resolves `name` to from `base`: bytes, absent, or an error. */
  async function resolve(base: string, name: string): Promise<{ bytes?: Buffer; hashes?: Record<string, string>; error?: string }> {
    const dir = tempDir();
    fs.copyFileSync(anchor, path.join(dir, 'root.json'));
    try {
      const updater = new Updater({ metadataDir: dir, metadataBaseUrl: base, targetBaseUrl: `${base}/targets`, targetDir: dir });
      const info = await updater.getTargetInfo(name);
      if (!info) return {};
      return { bytes: fs.readFileSync(await updater.downloadTarget(info, path.join(dir, 'target'))), hashes: info.hashes };
    } catch (err) {
      return { error: err instanceof Error ? err.message : String(err) };
    }
  }

  test('the same TargetFile or the same failure, from the upstream, from the generation, and through the mirror', async () => {
    const [result] = await mirror.syncAll();
    assert.notEqual(result.outcome, 'failed', JSON.stringify(result));
    assert.ok(result.outcome !== 'failed');
    const generation = result.generation;
    assert.deepEqual(
      generation.summary.failedRoles?.map((f) => [f.role, f.code]),
      [['D', 'EXPIRED_METADATA']],
      'only D fails; C fails only as delegated by B',
    );
    const resolved = new Map(mirror.store.resolvedTargets(generation.id).map((t) => [t.name, t]));
    const found: string[] = [];
    for (const name of names) {
      const direct = await resolve(upstream.url, name);
      const record = resolved.get(name);
      if (direct.bytes) {
        found.push(name);
        assert.ok(record, `${name}: tuf-js resolves it, the mirror does not`);
        assert.deepEqual(record.hashes, direct.hashes, `${name}: another TargetFile (${record.role})`);
        assert.ok(mirror.store.resolvedTarget(generation.id, name)?.bytes.equals(direct.bytes));
        const through = await resolve(mirror.url, name);
        assert.ok(through.bytes?.equals(direct.bytes), `${name} through the mirror: ${through.error ?? 'absent'}`);
      } else {
        assert.equal(record, undefined, `${name}: tuf-js ${direct.error ? `fails (${direct.error})` : 'finds nothing'}, the mirror resolves it to ${String(record?.role)}`);
        const through = await resolve(mirror.url, name);
        assert.equal(through.bytes, undefined, `${name}: resolves through the mirror`);
      }
    }
    // The cases are the ones meant: each wins where it should, the rest fail or are absent.
    assert.deepEqual(
      found.map((n) => `${n}@${String(resolved.get(n)?.role)}`),
      [
        'a/1@A',
        'a/2@A2',
        'a/c1@C',
        'a/x1@X',
        `bins/x@${repo.binFor('bins/x', 'bins')}`,
        `bins/y@${repo.binFor('bins/y', 'bins')}`,
        'b/1@B',
        'deep/10@L10',
        'h/1.txt@H',
        'shared/c@C',
        'shared/only-b@B',
        'shared/s@A',
        't/1@T1',
        'top.txt@targets',
      ].sort((x, y) => (x.split('@')[0] < y.split('@')[0] ? -1 : 1)),
    );
  });
});
