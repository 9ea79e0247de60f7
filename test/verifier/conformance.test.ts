/**
 * All 70 Sigstore conformance `bundle-verify` cases (test/fixtures/sigstore-conformance), each run
 * twice as the conformance suite does (the artifact file, and `sha256:<hex>` of it), through the
 * `tuf-mirror verify-bundle` command line: every case through the CLI's run() inside this process
 * (the same parsing, verification and exit code as the binary, without 140 starts), and a handful,
 * with the tests of the mirrored trust root below, through the real binary. Cases without their
 * own trusted_root.json use the public-good trusted_root.json of a mirror synced from the real
 * 2026-08-21 TUF repository.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, mock, test } from 'node:test';
import YAML from 'yaml';
import { packageRoot } from '../../lib/paths';
import { runCliInProcess } from '../helpers/cli';
import { FIXTURE, FIXTURE_NOW, startMirror, tempDir, testConfig } from '../helpers/mirror';
import { startUpstreamServer } from '../../testing/upstream-server';

const CLI = path.join(packageRoot(), 'dist', 'cli', 'main.js');
const CASES = path.join(packageRoot(), 'test', 'fixtures', 'sigstore-conformance', 'bundle-verify');
const DEFAULT_IDENTITY = 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const DEFAULT_ISSUER = 'https://token.actions.githubusercontent.com';

const dir = tempDir('tuf-mirror-conformance-');
const configFile = path.join(dir, 'tuf-mirror.yaml');

before(async () => {
  // Sync the real public-good repository once, at a moment when it is valid; the CLI then reads
  // trusted_root.json from that generation (verification itself does not depend on "now").
  mock.timers.enable({ apis: ['Date'], now: FIXTURE_NOW });
  const upstream = await startUpstreamServer(FIXTURE);
  const config = testConfig([{ upstream: upstream.url, anchor: path.join(FIXTURE, '1.root.json') }], {}, path.join(dir, 'data'));
  const mirror = await startMirror(config);
  const [result] = await mirror.syncAll();
  assert.equal(result.outcome, 'updated');
  await mirror.close();
  await upstream.close();
  mock.timers.reset();
  fs.writeFileSync(configFile, YAML.stringify({ dataDir: './data', repositories: [{ name: 'sigstore', upstream: upstream.url, trustAnchor: path.join(FIXTURE, '1.root.json') }] }));
});

type Run = { status: number; stdout: string; stderr: string };
const run = (args: string[]): Promise<Run> =>
  new Promise((resolve) => {
    execFile(process.execPath, [CLI, '--config', configFile, ...args], { encoding: 'utf8', cwd: dir }, (err, stdout, stderr) => {
      resolve({ status: err ? Number(err.code) : 0, stdout, stderr });
    });
  });

const caseNames = fs
  .readdirSync(CASES, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();

/** The conformance suite's command line for one case. */
function argsFor(name: string, mode: 'file' | 'digest'): string[] {
  const d = path.join(CASES, name);
  const has = (f: string): boolean => fs.existsSync(path.join(d, f));
  const artifact = has('artifact') ? path.join(d, 'artifact') : path.join(CASES, 'a.txt');
  const args = ['verify-bundle', '--bundle', path.join(d, 'bundle.sigstore.json')];
  if (has('key.pub')) args.push('--key', path.join(d, 'key.pub'));
  else {
    const identity = has('identity') ? fs.readFileSync(path.join(d, 'identity'), 'utf8').trim() : DEFAULT_IDENTITY;
    const issuer = has('issuer') ? fs.readFileSync(path.join(d, 'issuer'), 'utf8').trim() : DEFAULT_ISSUER;
    args.push('--certificate-identity', identity, '--certificate-oidc-issuer', issuer);
  }
  if (has('trusted_root.json')) args.push('--trusted-root', path.join(d, 'trusted_root.json'));
  args.push(mode === 'file' ? artifact : `sha256:${createHash('sha256').update(fs.readFileSync(artifact)).digest('hex')}`);
  return args;
}

const tally = { right: 0, wrong: [] as string[] };

// In-process runs share stdout, stderr and the exit code: one at a time (each takes milliseconds).
describe('Sigstore conformance bundle-verify, through tuf-mirror verify-bundle', { concurrency: 1 }, () => {
  assert.equal(caseNames.length, 70, 'the 70 cases of sigstore-conformance a73de497');
  for (const name of caseNames) {
    for (const mode of ['file', 'digest'] as const) {
      const expectOk = !name.endsWith('_fail');
      test(`${name} [${mode}] expects ${expectOk ? 'verified' : 'rejected'}`, async (t) => {
        const r = await runCliInProcess(['--config', configFile, ...argsFor(name, mode)]);
        const ok = r.status === 0;
        // The suite's rule: exit 0 = verified, anything else = rejected.
        const right = ok === expectOk;
        t.diagnostic(`${right ? 'PASS' : 'FAIL'} ${name} [${mode}]: exit ${r.status} ${(ok ? r.stdout : r.stderr).trim()}`);
        if (right) tally.right++;
        else tally.wrong.push(`${name} [${mode}]`);
        assert.ok(right, `${name} [${mode}]: expected ${expectOk ? 'exit 0' : 'a non-zero exit'}, got ${r.status}: ${r.stdout}${r.stderr}`);
      });
    }
  }
});

/** One case of each kind (identity, key, own trusted root; verified and rejected), through the binary. */
const THROUGH_THE_BINARY: [string, 'file' | 'digest'][] = [
  ['happy-path-v0.3', 'digest'],
  ['managed-key-happy-path', 'file'],
  ['intoto-with-custom-trust-root', 'file'],
  ['signature-mismatch_fail', 'file'],
  ['managed-key-wrong-key_fail', 'digest'],
];

describe('conformance cases through the real tuf-mirror binary', { concurrency: 2 }, () => {
  for (const [name, mode] of THROUGH_THE_BINARY) {
    const expectOk = !name.endsWith('_fail');
    test(`${name} [${mode}] expects ${expectOk ? 'verified' : 'rejected'}, with the same answer as in-process`, async () => {
      const [real, inProcess] = [await run(argsFor(name, mode)), await runCliInProcess(['--config', configFile, ...argsFor(name, mode)])];
      assert.equal(real.status === 0, expectOk, `${name} [${mode}]: exit ${real.status}: ${real.stdout}${real.stderr}`);
      assert.deepEqual(real, inProcess);
    });
  }
});

after(() => {
  process.stdout.write(
    `conformance: ${tally.right}/${caseNames.length * 2} runs right (${caseNames.length} cases x file and sha256 digest)${tally.wrong.length ? `; wrong: ${tally.wrong.join(', ')}` : ''}\n`,
  );
});

describe('verify-bundle and the mirrored trust root', () => {
  test('without --trusted-root the answer names the mirrored repository, generation and timestamp version', async () => {
    const r = await run([...argsFor('happy-path-v0.3', 'file'), '--json']);
    assert.equal(r.status, 0, r.stderr);
    const answer = JSON.parse(r.stdout);
    assert.equal(answer.verified, true);
    assert.deepEqual({ ...answer.trustRoot, sha256: undefined }, { repository: 'sigstore', generation: 1, timestampVersion: 762, sha256: undefined });
    assert.equal(answer.trustRoot.sha256, '6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66');
    assert.equal(answer.signer.identity.subject, DEFAULT_IDENTITY);
    assert.equal(answer.signer.identity.issuer, DEFAULT_ISSUER);
  });

  test('the plain output says who signed and under which trust root', async () => {
    const r = await run(argsFor('happy-path-v0.3', 'file'));
    assert.equal(r.status, 0);
    assert.match(
      r.stdout,
      /^OK: signed by https:\/\/github\.com\/sigstore-conformance\/.* \(issuer https:\/\/token\.actions\.githubusercontent\.com\), tlog index \d+; trust root sigstore generation 1 \(timestamp v762\)\n$/,
    );
  });

  test('identity is matched exactly: a prefix of the real identity is rejected', async () => {
    const args = argsFor('happy-path-v0.3', 'file');
    args[args.indexOf('--certificate-identity') + 1] = 'https://github.com/sigstore-conformance/';
    const r = await run(args);
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /^FAILED: certificate identity https:\/\/github\.com\/sigstore-conformance\/extremely-dangerous.* does not match: expected = https:\/\/github\.com\/sigstore-conformance\/\n$/,
    );
  });

  test('a regex-looking identity is not a regex', async () => {
    const args = argsFor('happy-path-v0.3', 'file');
    args[args.indexOf('--certificate-identity') + 1] = '.*';
    assert.equal((await run(args)).status, 1);
  });

  test('tuf-mirror verify: a bad policy file exits 2 naming the field; a registry outside the allowlist exits 1', async () => {
    fs.writeFileSync(path.join(dir, 'bad-policy.yaml'), 'apiVersion: v1\nanyOf:\n  minimumMatches: 2\n  signatures:\n    - kind: githubAction\n      owner: acme\n');
    const bad = await run(['verify', 'registry.local:5000/acme/app:1.0', '--policy', path.join(dir, 'bad-policy.yaml')]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /policy\.anyOf\.minimumMatches: is 2 but anyOf\.signatures lists only 1/);
    fs.writeFileSync(path.join(dir, 'policy.yaml'), 'apiVersion: v1\nallOf:\n  - kind: githubAction\n    owner: acme\n');
    const denied = await run(['verify', 'registry.local:5000/acme/app:1.0', '--policy', path.join(dir, 'policy.yaml')]);
    assert.equal(denied.status, 1);
    assert.equal(denied.stderr, 'tuf-mirror verify: REGISTRY_NOT_ALLOWED: registry registry.local:5000 is not in verifier.registries (allowed: none)\n');
  });

  test('usage errors exit 2, an unknown repository 3', async () => {
    const noAuth = await run(['verify-bundle', '--bundle', path.join(CASES, 'happy-path-v0.3', 'bundle.sigstore.json'), path.join(CASES, 'a.txt')]);
    assert.equal(noAuth.status, 2);
    assert.match(noAuth.stderr, /give --certificate-identity and --certificate-oidc-issuer, or --key/);
    const badDigest = await run([...argsFor('happy-path-v0.3', 'file').slice(0, -1), 'sha256:abc']);
    assert.equal(badDigest.status, 2);
    const staging = await run([...argsFor('happy-path-v0.3', 'file'), '--staging']);
    assert.equal(staging.status, 3, 'an unknown repository is a configuration error, as in every command');
    assert.match(staging.stderr, /no repository named staging/);
  });
});
