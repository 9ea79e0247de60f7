/**
 * `tuf-mirror publish`: the served generation as a static tree. Read back through a plain static
 * HTTP server by tuf-js's Updater, byte for byte what the mirror serves, consistent for readers
 * while it is rewritten, old versioned files kept, and clear errors for bad inputs.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Updater } from 'tuf-js';
import YAML from 'yaml';
import { packageRoot } from '../../lib/paths';
import { isVersionedPath } from '../../lib/layout';
import { publishOrder, publishRepository, PublishError } from '../../publish/publish';
import type { Service } from '../../server/service';
import { get, readTree, startMirror, tempDir, testConfig } from '../helpers/mirror';
import { TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const CLI = path.join(packageRoot(), 'dist', 'cli', 'main.js');
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

const repo = new TestRepository();
repo.addDelegation('registry.npmjs.org', { paths: ['registry.npmjs.org/*'] });
repo.addTarget('trusted_root.json', '{"state":0}\n');
repo.addTarget('registry.npmjs.org/keys.json', '{"keys":[]}\n', { role: 'registry.npmjs.org' });
repo.publish();

let upstream: UpstreamServer;
let mirror: Service;
let dataDir: string;
/** The published tree, and a plain static file server of it (reads the disk per request). */
const dir = path.join(tempDir(), 'www');
let staticServer: UpstreamServer;

before(async () => {
  upstream = await startUpstreamServer(() => repo.files());
  const config = testConfig([{ upstream: upstream.url, anchor: repo.rootBytes(1) }]);
  dataDir = config.dataDir;
  mirror = await startMirror(config);
  assert.equal((await mirror.syncAll())[0].outcome, 'updated');
  staticServer = await startUpstreamServer(dir);
});
after(async () => {
  await mirror.close();
  await upstream.close();
  await staticServer.close();
});

/** A TUF client from root v1 against `baseUrl`: refresh, then download every target and return their bytes. */
async function clientRead(baseUrl: string, targets = ['trusted_root.json', 'registry.npmjs.org/keys.json']): Promise<Map<string, Buffer>> {
  const work = tempDir();
  try {
    fs.writeFileSync(path.join(work, 'root.json'), repo.rootBytes(1));
    const updater = new Updater({ metadataDir: work, metadataBaseUrl: baseUrl, targetBaseUrl: `${baseUrl}/targets`, targetDir: work });
    await updater.refresh();
    const out = new Map<string, Buffer>();
    for (const t of targets) {
      const info = await updater.getTargetInfo(t);
      if (!info) throw new Error(`${t} not found`);
      const file = path.join(work, `t-${out.size}`);
      await updater.downloadTarget(info, file);
      out.set(t, fs.readFileSync(file));
    }
    return out;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** What the mirror serves right now, by path. */
function servedPaths(): Map<string, string> {
  return mirror.store.servedSet('sigstore', 5)!.files;
}

/**
 * One walk of the static tree as a consistent-snapshot client does it, checking every reference:
 * timestamp → N.snapshot.json → N.<role>.json → targets/<hash>.<name> with matching hashes.
 */
async function walkConsistent(baseUrl: string): Promise<void> {
  const json = async (p: string): Promise<{ signed: Record<string, any> }> => {
    const r = await get(`${baseUrl}/${p}`);
    if (r.status !== 200) throw new Error(`${p}: HTTP ${r.status}`);
    return JSON.parse(r.body.toString()) as { signed: Record<string, any> };
  };
  const ts = await json('timestamp.json');
  const snap = await json(`${String(ts.signed.meta['snapshot.json'].version)}.snapshot.json`);
  for (const [name, meta] of Object.entries(snap.signed.meta as Record<string, { version: number }>)) {
    const md = await json(`${meta.version}.${name}`);
    for (const [target, info] of Object.entries(md.signed.targets as Record<string, { hashes: { sha256: string } }>)) {
      const slash = target.lastIndexOf('/');
      const p = `targets/${target.slice(0, slash + 1)}${info.hashes.sha256}.${target.slice(slash + 1)}`;
      const r = await get(`${baseUrl}/${p}`);
      if (r.status !== 200) throw new Error(`${p}: HTTP ${r.status}`);
      if (sha256(r.body) !== info.hashes.sha256) throw new Error(`${p}: bytes do not match the hash ${name} signed`);
    }
  }
}

describe('publish', () => {
  test('writes the served set byte for byte in the upstream layout; tuf-js reads it from a static server', async () => {
    const result = publishRepository(mirror.store, 'sigstore', dir);
    const served = servedPaths();
    const tree = readTree(dir);
    assert.deepEqual([...tree.keys()].sort(), [...served.keys()].sort(), 'exactly the served paths, no temp files left');
    assert.equal(result.files, served.size);
    assert.equal(result.written, served.size);
    for (const p of ['1.root.json', 'root.json', 'timestamp.json', 'snapshot.json', 'targets.json', 'registry.npmjs.org.json', 'targets/trusted_root.json', 'targets/registry.npmjs.org/keys.json']) {
      assert.ok(tree.has(p), p);
    }
    for (const re of [
      /^\d+\.snapshot\.json$/,
      /^\d+\.targets\.json$/,
      /^\d+\.registry\.npmjs\.org\.json$/,
      /^targets\/[0-9a-f]{64}\.trusted_root\.json$/,
      /^targets\/registry\.npmjs\.org\/[0-9a-f]{64}\.keys\.json$/,
    ]) {
      assert.ok(
        [...tree.keys()].some((p) => re.test(p)),
        String(re),
      );
    }
    for (const [p, bytes] of tree) {
      const res = await get(`${mirror.url}/${p}`);
      assert.equal(res.status, 200, p);
      assert.ok(res.body.equals(bytes), `${p}: the published bytes are what the mirror serves`);
    }
    const read = await clientRead(staticServer.url);
    assert.equal(read.get('trusted_root.json')!.toString(), '{"state":0}\n');
    assert.equal(read.get('registry.npmjs.org/keys.json')!.toString(), '{"keys":[]}\n');
  });

  test('publishing again with nothing new writes nothing', () => {
    const before = fs.statSync(path.join(dir, 'timestamp.json')).mtimeMs;
    const result = publishRepository(mirror.store, 'sigstore', dir);
    assert.equal(result.written, 0);
    assert.equal(result.unchanged, result.files);
    assert.equal(fs.statSync(path.join(dir, 'timestamp.json')).mtimeMs, before);
  });

  test('readers of the directory see a consistent repository while new generations are published', async () => {
    const earlier = readTree(dir);
    let stop = false;
    const errors: string[] = [];
    let walks = 0;
    let clientReads = 0;
    const walker = async (): Promise<void> => {
      while (!stop) {
        try {
          await walkConsistent(staticServer.url);
          walks++;
        } catch (err) {
          errors.push(`walk: ${(err as Error).message}`);
        }
      }
    };
    const client = async (): Promise<void> => {
      while (!stop) {
        try {
          await clientRead(staticServer.url);
          clientReads++;
        } catch (err) {
          errors.push(`client: ${(err as Error).message}`);
        }
      }
    };
    const readers = [walker(), walker(), client(), client()];
    let publishes = 0;
    try {
      for (let n = 1; n <= 15; n++) {
        repo.addTarget('trusted_root.json', `{"state":${n}}\n`.repeat(20));
        if (n % 3 === 0) repo.addTarget('registry.npmjs.org/keys.json', `{"keys":[${n}]}\n`, { role: 'registry.npmjs.org' });
        repo.publish();
        assert.equal((await mirror.syncAll())[0].outcome, 'updated');
        const r = publishRepository(mirror.store, 'sigstore', dir);
        assert.ok(r.written >= 3, `publish ${n} wrote ${r.written}`);
        publishes++;
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
    } finally {
      stop = true;
      await Promise.all(readers);
    }
    assert.deepEqual(errors, []);
    assert.equal(publishes, 15);
    assert.ok(walks >= 5 && clientReads >= 2, `walks ${walks}, client reads ${clientReads}`);

    // Old versioned files stay, unchanged; the unversioned ones moved on.
    const now = readTree(dir);
    for (const [p, bytes] of earlier) {
      if (isVersionedPath(p)) assert.ok(now.get(p)?.equals(bytes), `${p} kept as it was`);
    }
    assert.ok(!now.get('timestamp.json')!.equals(earlier.get('timestamp.json')!));
    // And the latest is byte for byte what the mirror serves.
    for (const p of servedPaths().keys()) assert.ok((await get(`${mirror.url}/${p}`)).body.equals(now.get(p)!), p);
    const read = await clientRead(staticServer.url);
    assert.equal(read.get('trusted_root.json')!.toString(), '{"state":15}\n'.repeat(20));
  });

  test('a root rotation is published; a client starting from root v1 follows the chain', async () => {
    const v = repo.rotateRoot({ replaceKeys: ['root', 'timestamp', 'snapshot'] });
    assert.equal((await mirror.syncAll())[0].outcome, 'updated');
    publishRepository(mirror.store, 'sigstore', dir);
    for (let i = 1; i <= v; i++) assert.ok(fs.readFileSync(path.join(dir, `${i}.root.json`)).equals(repo.rootBytes(i)), `${i}.root.json`);
    assert.ok(fs.readFileSync(path.join(dir, 'root.json')).equals(repo.rootBytes(v)));
    await clientRead(staticServer.url);
  });

  test('refuses to overwrite a versioned file with other bytes, before writing anything', () => {
    const other = path.join(tempDir(), 'www');
    fs.mkdirSync(other);
    const snapshot = [...servedPaths().keys()].find((p) => /^\d+\.snapshot\.json$/.test(p))!;
    fs.writeFileSync(path.join(other, snapshot), '{"not":"this repository"}\n');
    assert.throws(
      () => publishRepository(mirror.store, 'sigstore', other),
      (err: unknown) => err instanceof PublishError && err.code === 'CONFLICT' && err.message.includes(snapshot),
    );
    assert.deepEqual(fs.readdirSync(other), [snapshot], 'nothing else written');
  });

  test('never rolls readers back: a tree with a newer timestamp is left alone', () => {
    const other = path.join(tempDir(), 'www');
    publishRepository(mirror.store, 'sigstore', other);
    const ts: { signed: { version: number } } = JSON.parse(fs.readFileSync(path.join(other, 'timestamp.json'), 'utf8'));
    ts.signed.version += 1000;
    const newer = JSON.stringify(ts);
    fs.writeFileSync(path.join(other, 'timestamp.json'), newer);
    assert.throws(
      () => publishRepository(mirror.store, 'sigstore', other),
      (err: unknown) => err instanceof PublishError && err.code === 'CONFLICT' && err.message.includes('newer than'),
    );
    assert.equal(fs.readFileSync(path.join(other, 'timestamp.json'), 'utf8'), newer);
  });

  test('removes temporary files a killed publisher left, keeps those of a live one', () => {
    const other = path.join(tempDir(), 'www');
    fs.mkdirSync(other);
    const dead = path.join(other, '.timestamp.json.tmp-999999999-0badf00d');
    const live = path.join(other, `.timestamp.json.tmp-${process.pid}-0badf00d`);
    fs.writeFileSync(dead, 'x');
    fs.writeFileSync(live, 'x');
    publishRepository(mirror.store, 'sigstore', other);
    assert.equal(fs.existsSync(dead), false);
    assert.equal(fs.existsSync(live), true);
  });

  test('writes in reference order: versioned below timestamp first, unversioned next, roots, timestamp.json last', () => {
    const order = publishOrder([
      'timestamp.json',
      'root.json',
      'snapshot.json',
      'targets.json',
      '2.root.json',
      '1.root.json',
      '3.snapshot.json',
      '3.targets.json',
      '2.x.json',
      'x.json',
      'targets/t.json',
      `targets/${'a'.repeat(64)}.t.json`,
    ]);
    assert.deepEqual(order, [
      `targets/${'a'.repeat(64)}.t.json`,
      '2.x.json',
      '3.targets.json',
      '3.snapshot.json',
      'targets/t.json',
      'x.json',
      'targets.json',
      'snapshot.json',
      '1.root.json',
      '2.root.json',
      'root.json',
      'timestamp.json',
    ]);
  });
});

describe('tuf-mirror publish (command)', () => {
  const run = (cwd: string, ...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd }, (err, stdout, stderr) => resolve({ status: err ? Number(err.code) : 0, stdout, stderr }));
    });
  let work: string;
  before(() => {
    work = tempDir();
    fs.writeFileSync(path.join(work, 'anchor.json'), repo.rootBytes(1));
    const config = (data: string) => YAML.stringify({ dataDir: data, repositories: [{ name: 'sigstore', upstream: upstream.url, trustAnchor: './anchor.json' }] });
    fs.writeFileSync(path.join(work, 'held.yaml'), config(dataDir));
    fs.writeFileSync(path.join(work, 'empty.yaml'), config('./empty-data'));
  });

  test('publishes and says what it wrote (exit 0)', async () => {
    const out = path.join(work, 'out');
    const r = await run(work, 'publish', 'sigstore', '--dir', out, '--config', 'held.yaml');
    assert.equal(r.status, 0, r.stderr);
    const gen = mirror.store.currentGeneration('sigstore')!;
    assert.match(
      r.stdout,
      new RegExp(`^sigstore: published generation ${gen.id} \\(root v\\d+, timestamp v\\d+, .*\\) to ${out.replace(/[/.]/g, '\\$&')}: \\d+ files, \\d+ written \\(\\d+ bytes\\), 0 already there\\n$`),
    );
    for (const [p, bytes] of readTree(out)) assert.ok((await get(`${mirror.url}/${p}`)).body.equals(bytes), p);
    const again = await run(work, 'publish', 'sigstore', '--dir', out, '--config', 'held.yaml', '--json');
    assert.equal(again.status, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).written, 0);
  });

  test('unknown repository: exit 3', async () => {
    const r = await run(work, 'publish', 'nope', '--dir', path.join(work, 'x'), '--config', 'held.yaml');
    assert.equal(r.status, 3);
    assert.match(r.stderr, /no repository named nope \(configured: sigstore\)/);
  });

  test('nothing held yet: exit 1, and nothing written', async () => {
    const r = await run(work, 'publish', 'sigstore', '--dir', path.join(work, 'none'), '--config', 'empty.yaml');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^tuf-mirror: publish sigstore: sigstore holds no verified generation yet: run `tuf-mirror sync sigstore` first\n$/);
    assert.equal(fs.existsSync(path.join(work, 'none')), false);
  });

  test('a directory that cannot be written: exit 1 with the reason', async () => {
    const file = path.join(work, 'a-file');
    fs.writeFileSync(file, 'x');
    const notDir = await run(work, 'publish', 'sigstore', '--dir', file, '--config', 'held.yaml');
    assert.equal(notDir.status, 1);
    assert.match(notDir.stderr, /exists and is not a directory/);
    const under = await run(work, 'publish', 'sigstore', '--dir', path.join(file, 'sub'), '--config', 'held.yaml');
    assert.equal(under.status, 1);
    assert.match(under.stderr, /^tuf-mirror: publish sigstore: cannot write .*a-file\/sub.*: ENOTDIR\n$/);
  });
});
