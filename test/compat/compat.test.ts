/**
 * The compatibility gate on the real public-good trust targets and on each way a set of them can
 * break a consumer or silently drop trust.
 */
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { checkCompatibility, type GateReport } from '../../compat/gate';
import { FIXTURE } from '../helpers/mirror';

const TARGETS = path.join(FIXTURE, 'targets');
const PUBLIC = new Map(
  fs
    .readdirSync(TARGETS, { withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => [e.name.slice(65), fs.readFileSync(path.join(TARGETS, e.name))]),
);
const publicRoot = () => JSON.parse(PUBLIC.get('trusted_root.json')!.toString('utf8'));
const withRoot = (root: unknown, base = PUBLIC) => new Map([...base, ['trusted_root.json', Buffer.from(JSON.stringify(root))]]);
const codes = (r: GateReport) => r.findings.map((f) => `${f.blocking ? '!' : ''}${f.code}`).sort();

describe('the public-good trust targets (2026-08-21)', () => {
  test('pass, with the Ed25519 Rekor v2 log reported: its signed-note log id, and policy-controller leaving it out', () => {
    const r = checkCompatibility({ targets: PUBLIC, baseline: PUBLIC });
    assert.equal(r.passed, true);
    assert.deepEqual(codes(r), ['KEY_TYPE_UNSUPPORTED', 'LOG_ID_SIGNED_NOTE']);
    assert.ok(r.findings.every((f) => f.subject === 'https://log2025-1.rekor.sigstore.dev'));
    assert.deepEqual(r.consumers, [{ consumer: 'policy-controller', outputs: ['remote', 'repository', 'sigstore-keys'], leftOut: ['tlog https://log2025-1.rekor.sigstore.dev (ed25519)'] }]);
  });
});

describe('blocking findings', () => {
  test('an authority dropped without an end is AUTHORITY_REMOVED; one retired first may go', () => {
    const dropped = publicRoot();
    dropped.tlogs.shift();
    const r = checkCompatibility({ targets: withRoot(dropped), baseline: PUBLIC });
    assert.deepEqual(codes(r), ['!AUTHORITY_REMOVED', 'KEY_TYPE_UNSUPPORTED', 'LOG_ID_SIGNED_NOTE']);
    assert.match(r.findings.find((f) => f.blocking)!.message, /^tlog https:\/\/rekor\.sigstore\.dev was trusted with no end and is gone/);

    const retired = publicRoot();
    retired.tlogs[0].publicKey.validFor.end = '2026-09-01T00:00:00Z';
    assert.equal(checkCompatibility({ targets: withRoot(retired), baseline: PUBLIC }).passed, true);
    assert.equal(checkCompatibility({ targets: withRoot(dropped), baseline: withRoot(retired) }).passed, true);

    // The CA with an end (2022) may go; the open-ended one may not, nor may its chain change under the same URI.
    const caGone = publicRoot();
    caGone.certificateAuthorities.shift();
    assert.equal(checkCompatibility({ targets: withRoot(caGone), baseline: PUBLIC }).passed, true);
    const swapped = publicRoot();
    swapped.certificateAuthorities[1].certChain.certificates.reverse();
    assert.deepEqual(
      codes(checkCompatibility({ targets: withRoot(swapped), baseline: PUBLIC })).filter((c) => c.startsWith('!')),
      ['!AUTHORITY_REMOVED'],
    );
  });

  test('a log id that is neither the sha256 of its key nor a signed-note id: LOG_ID_MISMATCH', () => {
    const bad = publicRoot();
    bad.ctlogs[1].logId.keyId = crypto.createHash('sha256').update('another key').digest('base64');
    const r = checkCompatibility({ targets: withRoot(bad) });
    assert.deepEqual(
      r.findings.filter((f) => f.blocking).map((f) => `${f.code} ${String(f.subject)}`),
      ['LOG_ID_MISMATCH https://ctfe.sigstore.dev/2022'],
    );
  });

  test('what @sigstore/verify cannot load, or this verifier refuses: TRUSTED_ROOT_UNLOADABLE, VALIDITY_START_MISSING', () => {
    const unloadable = (root: unknown) => codes(checkCompatibility({ targets: withRoot(root) })).filter((c) => c.startsWith('!'));
    const badKey = publicRoot();
    badKey.tlogs[0].publicKey.rawBytes = 'AAAA';
    assert.deepEqual(unloadable(badKey), ['!TRUSTED_ROOT_UNLOADABLE']);
    assert.deepEqual(unloadable({ mediaType: 'application/json', tlogs: [] }), ['!TRUSTED_ROOT_UNLOADABLE']);
    const noStart = publicRoot();
    delete noStart.timestampAuthorities[0].validFor.start;
    assert.deepEqual(unloadable(noStart), ['!VALIDITY_START_MISSING']);
    const notJson = new Map([...PUBLIC, ['trusted_root.json', Buffer.from('{"mediaType":')]]);
    assert.match(checkCompatibility({ targets: notJson }).findings[0].message, /^trusted_root\.json is not JSON/);
  });

  test('a signing config that does not parse, a legacy PEM target that is not PEM', () => {
    const bad = new Map([
      ...PUBLIC,
      ['signing_config.v0.2.json', Buffer.from(JSON.stringify({ mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.2+json', caUrls: [{ url: 'https://fulcio.example' }] }))],
      ['signing_config_rekor_v2.v0.2.json', Buffer.from('{')],
      ['rekor.pub', Buffer.from('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n')],
    ]);
    const r = checkCompatibility({ targets: bad });
    assert.deepEqual(
      r.findings
        .filter((f) => f.blocking)
        .map((f) => `${f.code} ${f.target}`)
        .sort(),
      ['LEGACY_TARGET_UNPARSEABLE rekor.pub', 'SIGNING_CONFIG_UNPARSEABLE signing_config.v0.2.json', 'SIGNING_CONFIG_UNPARSEABLE signing_config_rekor_v2.v0.2.json'],
    );
  });

  test('no trusted_root.json: not a Sigstore repository, unless the previous set had one', () => {
    const plain = new Map([['registry.npmjs.org/keys.json', Buffer.from('{}')]]);
    assert.deepEqual(checkCompatibility({ targets: plain }), { applicable: false, passed: true, findings: [], consumers: [] });
    const r = checkCompatibility({ targets: plain, baseline: PUBLIC });
    assert.deepEqual(codes(r), ['!TRUSTED_ROOT_MISSING']);
  });
});
