/**
 * lib/trusted-root.ts, the one trusted_root.json reader: every real trusted root we hold (the
 * public-good target, the 38 conformance roots, the cosign fixture) and hostile bytes. Its
 * consumers (verifier, trust-root outputs, origin, watch) refuse exactly what it refuses.
 */
import { TrustedRoot } from '@sigstore/protobuf-specs';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { packageRoot } from '../../lib/paths';
import { describeWindow, parseTrustedRoot, pem, TRUST_KINDS, trustEntries, TrustedRootError, validAt, type TrustedRootErrorCode } from '../../lib/trusted-root';
import { parseTrustMaterial } from '../../origin/trust-material';
import { TrustRootError as OutputError } from '../../trust/errors';
import { readTrustedRoot } from '../../trust/material';
import { parseTrustRoot, TrustRootError as VerifierError } from '../../verifier/trust-root';
import { FIXTURE } from '../helpers/mirror';

const FIXTURES = path.join(packageRoot(), 'test', 'fixtures');
const PUBLIC_GOOD = fs.readFileSync(path.join(FIXTURE, 'targets', '6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66.trusted_root.json'));
const SIGNING_CONFIG = fs.readFileSync(path.join(FIXTURE, 'targets', '9711a6d5375706957a4859af31c5866a4474f81f0544f9f4b76c9c4f4c8a539c.signing_config.v0.2.json'));
const MEDIA_TYPE = 'application/vnd.dev.sigstore.trustedroot+json;version=0.1';
const MISSING_START = 'trust-root-tlog-missing-validity-start_fail';

function trustedRootFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /trusted_root.*\.json$/.test(e.name))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

/** Throws a TrustedRootError with `code`, whose message matches `message`. */
function refused(bytes: Buffer | string, code: TrustedRootErrorCode, message?: RegExp): void {
  assert.throws(
    () => parseTrustedRoot(bytes),
    (e: unknown) => (e instanceof TrustedRootError && e.code === code && (!message || message.test(e.message))) || assert.fail(`got ${String(e)}`),
  );
}

const tlog = (validFor: unknown, extra: Record<string, unknown> = {}) => ({
  baseUrl: 'https://rekor.example',
  hashAlgorithm: 'SHA2_256',
  publicKey: { rawBytes: 'MFkw', keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor },
  logId: { keyId: 'a2V5' },
  ...extra,
});
const root = (fields: Record<string, unknown>) => JSON.stringify({ mediaType: MEDIA_TYPE, ...fields });

describe('the real trusted roots', () => {
  test('public-good 2026-08-21: every entry, its text as written, and the protobuf-specs view', () => {
    const json = JSON.parse(PUBLIC_GOOD.toString('utf8'));
    const parsed = parseTrustedRoot(PUBLIC_GOOD);
    assert.equal(parsed.mediaType, MEDIA_TYPE);
    assert.deepEqual(parsed.trustedRoot, TrustedRoot.fromJSON(json));
    for (const kind of TRUST_KINDS) assert.equal(parsed[kind].length, json[kind].length, kind);
    // Text as written, never re-rendered from a Date or from bytes.
    parsed.tlogs.forEach((l, i) => {
      const src = json.tlogs[i];
      assert.deepEqual(
        { baseUrl: l.baseUrl, hashAlgorithm: l.hashAlgorithm, publicKey: l.publicKey, keyDetails: l.keyDetails, logId: l.logId, validFor: l.validFor },
        { baseUrl: src.baseUrl, hashAlgorithm: src.hashAlgorithm, publicKey: src.publicKey.rawBytes, keyDetails: src.publicKey.keyDetails, logId: src.logId.keyId, validFor: src.publicKey.validFor },
      );
    });
    parsed.certificateAuthorities.forEach((a, i) => {
      const src = json.certificateAuthorities[i];
      assert.deepEqual(a.subject, src.subject);
      assert.equal(a.uri, src.uri);
      assert.deepEqual(
        a.certificates,
        src.certChain.certificates.map((c: { rawBytes: string }) => c.rawBytes),
      );
      assert.deepEqual(a.validFor, src.validFor);
    });
    assert.equal(parsed.certificateAuthorities[0].validFor.start, '2021-03-07T03:20:29Z');
    assert.equal(parsed.certificateAuthorities[0].validFor.end, '2022-12-31T23:59:59.999Z');
  });

  test('trustEntries: one per entry, kind order, the ids and windows the watch compares', () => {
    const entries = trustEntries(parseTrustedRoot(PUBLIC_GOOD));
    assert.deepEqual(
      entries.map((e) => e.kind),
      ['certificateAuthorities', 'certificateAuthorities', 'tlogs', 'tlogs', 'ctlogs', 'ctlogs', 'timestampAuthorities'],
    );
    const rekor = entries.find((e) => e.url === 'https://rekor.sigstore.dev')!;
    assert.deepEqual(rekor, { kind: 'tlogs', id: 'wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0=', url: 'https://rekor.sigstore.dev', start: '2021-01-12T11:53:27Z', end: null });
    const fulcio = entries.find((e) => e.kind === 'certificateAuthorities' && e.end === null)!;
    assert.equal(fulcio.id, 'sigstore.dev/sigstore https://fulcio.sigstore.dev');
  });

  test('every conformance trusted root parses, as protobuf-specs reads it, but the one without validFor.start', () => {
    const files = [...trustedRootFiles(path.join(FIXTURES, 'sigstore-conformance')), ...trustedRootFiles(path.join(FIXTURES, 'cosign-image-signatures'))];
    assert.ok(files.length >= 39, `${files.length} files`);
    let parsedCount = 0;
    for (const file of files) {
      const bytes = fs.readFileSync(file);
      if (file.includes(MISSING_START)) {
        refused(bytes, 'MALFORMED', /^trusted_root\.json: tlogs\[1\]\.publicKey\.validFor\.start is missing$/);
        continue;
      }
      const parsed = parseTrustedRoot(bytes);
      assert.deepEqual(parsed.trustedRoot, TrustedRoot.fromJSON(JSON.parse(bytes.toString('utf8'))), file);
      parsedCount++;
    }
    assert.equal(parsedCount, files.length - 1);
  });

  test('proto3 JSON: null is absent, enums by name or number', () => {
    const parsed = parseTrustedRoot(root({ tlogs: [tlog({ start: '2021-01-01T00:00:00Z', end: null }, { hashAlgorithm: 1, operator: null, logId: null })], ctlogs: null }));
    assert.deepEqual(parsed.tlogs[0].validFor, { start: '2021-01-01T00:00:00Z' });
    assert.equal(parsed.tlogs[0].hashAlgorithm, 'SHA2_256');
    assert.equal(parsed.tlogs[0].logId, '');
    assert.deepEqual(parsed.ctlogs, []);
    assert.equal(trustEntries(parsed)[0].id, 'https://rekor.example', 'a log without a log id is known by its URL');
  });
});

describe('hostile bytes', () => {
  test('not JSON: NOT_JSON', () => {
    for (const bytes of ['', 'x', '{', '\u0000', Buffer.from([0xff, 0xfe, 0x00]), `${root({})}\n{}`]) refused(bytes, 'NOT_JSON', /^trusted_root\.json is not JSON: /);
  });

  test('JSON that is not an object, or not a trusted root: NOT_A_TRUSTED_ROOT', () => {
    for (const bytes of ['[]', 'null', '42', '"trusted"', 'true']) refused(bytes, 'NOT_A_TRUSTED_ROOT', /is not a JSON object$/);
    refused('{}', 'NOT_A_TRUSTED_ROOT', /\(mediaType undefined\)$/);
    refused(JSON.stringify({ mediaType: 7, tlogs: [] }), 'NOT_A_TRUSTED_ROOT', /\(mediaType 7\)$/);
    refused(SIGNING_CONFIG, 'NOT_A_TRUSTED_ROOT', /signingconfig/);
  });

  test('wrong shapes: MALFORMED, naming the field', () => {
    const cases: [string, RegExp][] = [
      [root({ tlogs: 'all of them' }), /^trusted_root\.json: tlogs is not a list$/],
      [root({ certificateAuthorities: {} }), /^trusted_root\.json: certificateAuthorities is not a list$/],
      [root({ tlogs: [null] }), /^trusted_root\.json: tlogs\[0\] is not an object$/],
      [root({ ctlogs: [7] }), /^trusted_root\.json: ctlogs\[0\] is not an object$/],
      [root({ tlogs: [{ baseUrl: 'https://rekor.example' }] }), /^trusted_root\.json: tlogs\[0\]\.publicKey is missing$/],
      [root({ tlogs: [tlog(undefined)] }), /^trusted_root\.json: tlogs\[0\]\.publicKey\.validFor is missing$/],
      [root({ tlogs: [tlog({ end: '2030-01-01T00:00:00Z' })] }), /^trusted_root\.json: tlogs\[0\]\.publicKey\.validFor\.start is missing$/],
      [root({ tlogs: [tlog({ start: null })] }), /validFor\.start is not a string$/],
      [root({ tlogs: [tlog({ start: 'last tuesday' })] }), /validFor\.start is not an RFC 3339 time$/],
      [root({ tlogs: [tlog({ start: '2021-01-01T00:00:00Z', end: 1700000000 })] }), /validFor\.end is not a string$/],
      [root({ timestampAuthorities: [{ uri: 'https://tsa.example' }] }), /^trusted_root\.json: timestampAuthorities\[0\]\.validFor is missing$/],
      [root({ certificateAuthorities: [{ validFor: { start: '2021-01-01T00:00:00Z' }, certChain: { certificates: 'pem' } }] }), /certificateAuthorities\[0\]\.certChain\.certificates is not a list$/],
      [root({ tlogs: [tlog({ start: '2021-01-01T00:00:00Z' }, { baseUrl: ['https://a', 'https://b'] })] }), /tlogs\[0\]\.baseUrl is not a string$/],
      [root({ tlogs: [tlog({ start: '2021-01-01T00:00:00Z' }, { hashAlgorithm: 'MD5' })] }), /is not a Sigstore trusted root: Unrecognized enum value MD5/],
    ];
    for (const [bytes, message] of cases) refused(bytes, 'MALFORMED', message);
  });

  test('deep nesting: a coded answer or ignored, never a crash', () => {
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    refused(`{"mediaType":"${MEDIA_TYPE}","tlogs":${deep(1_000_000)}}`, 'MALFORMED', /tlogs\[0\] is not an object/);
    refused(`{"mediaType":"${MEDIA_TYPE}","tlogs":[{"publicKey":${deep(100_000)}}]}`, 'MALFORMED', /publicKey is not an object/);
    // Fields nobody reads are not walked at all.
    const parsed = parseTrustedRoot(`{"mediaType":"${MEDIA_TYPE}","extra":${deep(1_000_000)},"tlogs":[]}`);
    assert.deepEqual(parsed.tlogs, []);
  });

  test('__proto__ in the file pollutes nothing', () => {
    const parsed = parseTrustedRoot(
      `{"mediaType":"${MEDIA_TYPE}","__proto__":{"polluted":true},"tlogs":[${JSON.stringify(tlog({ start: '2021-01-01T00:00:00Z' })).replace(/^\{/, '{"__proto__":{"polluted":true},')}]}`,
    );
    assert.equal(parsed.tlogs.length, 1);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal((parsed as unknown as Record<string, unknown>).polluted, undefined);
  });

  test('messages name the file they were given as', () => {
    assert.throws(() => parseTrustedRoot('nope', 'other.json'), /^TrustedRootError: other\.json is not JSON/);
  });
});

describe('every consumer refuses what the parser refuses', () => {
  const bad = Buffer.from(root({ tlogs: [tlog({ end: '2030-01-01T00:00:00Z' })] }));

  test('verifier: TrustRootError (503 BAD_TRUSTED_ROOT over HTTP)', () => {
    assert.throws(
      () => parseTrustRoot(bad, { repository: 'r', generation: 1, timestampVersion: 1 }),
      (e: unknown) => e instanceof VerifierError && e.message.includes('validFor.start is missing'),
    );
    assert.equal(parseTrustRoot(PUBLIC_GOOD, { repository: 'r', generation: 1, timestampVersion: 1 }).material.tlogs.length, 2);
  });

  test('trust-root outputs: TARGET_INVALID naming the target', () => {
    assert.throws(
      () => readTrustedRoot({ name: 'trusted_root.json', role: 'targets', hashes: {}, bytes: bad }),
      (e: unknown) => e instanceof OutputError && e.code === 'TARGET_INVALID' && e.message.startsWith('trusted_root.json: '),
    );
    assert.throws(
      () => readTrustedRoot({ name: 'signing_config.v0.2.json', role: 'targets', hashes: {}, bytes: SIGNING_CONFIG }),
      (e: unknown) => e instanceof OutputError && e.code === 'TARGET_INVALID',
    );
  });

  test('origin: reads back the windows exactly as written', () => {
    assert.throws(() => parseTrustMaterial(bad), TrustedRootError);
    const material = parseTrustMaterial(PUBLIC_GOOD);
    assert.deepEqual(material.certificateAuthorities[0].validFor, { start: '2021-03-07T03:20:29Z', end: '2022-12-31T23:59:59.999Z' });
    assert.equal(material.tlogs[0].keyPem, pem('PUBLIC KEY', JSON.parse(PUBLIC_GOOD.toString('utf8')).tlogs[0].publicKey.rawBytes));
  });
});

describe('windows', () => {
  test('a window holds from its start, up to but not at its end', () => {
    const w = { start: '2021-01-01T00:00:00Z', end: '2022-01-01T00:00:00Z' };
    assert.equal(validAt(w, Date.parse('2020-12-31T23:59:59Z')), false);
    assert.equal(validAt(w, Date.parse(w.start)), true);
    assert.equal(validAt(w, Date.parse(w.end) - 1), true);
    assert.equal(validAt(w, Date.parse(w.end)), false);
    assert.equal(validAt({ start: w.start }, Date.parse('2999-01-01T00:00:00Z')), true);
    assert.equal(describeWindow({ start: w.start }), '2021-01-01T00:00:00Z to open');
  });
});
