/**
 * patches/ holds fixes to dependencies, applied by `patch-package` at install (postinstall).
 * A dependency upgrade that makes a patch stale fails `npm ci`; these tests catch an install that
 * skipped the patches (`--ignore-scripts`) or an upgrade that left the fixed code unpatched.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { Metadata, MetadataKind } from '@tufjs/models';
import { packageRoot } from '../../lib/paths';

const models = path.dirname(require.resolve('@tufjs/models/package.json'));

describe('@tufjs/models patch: linear (de)serialization of key, role, meta and target maps', () => {
  it('has no accumulating object spread left in the maps it builds', () => {
    for (const file of ['targets.js', 'snapshot.js', 'delegations.js', 'root.js']) {
      const text = fs.readFileSync(path.join(models, 'dist', file), 'utf8');
      // One spread remains by design: Root's four default roles in its constructor.
      const spreads = text.match(/\.\.\.acc\b/g)?.length ?? 0;
      assert.equal(spreads, file === 'root.js' ? 1 : 0, `${file}: ${spreads} accumulating spreads (patch not applied?)`);
    }
  });

  it('is a patch for the installed version', () => {
    const version = (JSON.parse(fs.readFileSync(path.join(models, 'package.json'), 'utf8')) as { version: string }).version;
    assert.ok(fs.existsSync(path.join(packageRoot(), 'patches', `@tufjs+models+${version}.patch`)), `no patch for @tufjs/models ${version}`);
  });

  it('keeps what the maps mean: order, last duplicate wins, __proto__ as a plain key', () => {
    // JSON.parse, not a literal: a literal `__proto__:` would set the prototype instead of a key.
    const targetsMap = '{"b.txt":{"length":1,"hashes":{"sha256":"00"}},"__proto__":{"length":2,"hashes":{"sha256":"11"}},"a.txt":{"length":3,"hashes":{"sha256":"22"}}}';
    const json: unknown = JSON.parse(`{"signed":{"_type":"targets","spec_version":"1.0.31","version":1,"expires":"2030-01-01T00:00:00Z","targets":${targetsMap}},"signatures":[]}`);
    const targets = Metadata.fromJSON(MetadataKind.Targets, json as Parameters<typeof Metadata.fromJSON>[1]).signed;
    assert.deepEqual(Object.keys(targets.targets), ['b.txt', '__proto__', 'a.txt']);
    assert.equal(Object.getPrototypeOf(targets.targets), Object.prototype);
    assert.equal(targets.targets.__proto__.length, 2);
    assert.deepEqual(Object.keys(targets.toJSON().targets as object), ['b.txt', '__proto__', 'a.txt']);
  });
});
