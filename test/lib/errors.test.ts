/**
 * The one error vocabulary: every module's failure is a TufMirrorError with its code, and its
 * HTTP status (server/http-errors.ts) and exit code (cli/exit-codes.ts) are each decided in one
 * place. The end-to-end tests (exit-codes, verifier-api, archive-api, trust-api …) assert the
 * statuses and codes users see; this file pins what those maps decide between themselves.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CommanderError } from 'commander';
import { BridgeError } from '../../bridge/errors';
import { failureOf, UsageError } from '../../cli/exit-codes';
import { OutputError } from '../../cli/output';
import { ConfigError } from '../../config/config';
import { BoundedJsonError } from '../../lib/bounded-json';
import { systemCode, TrustRootError, TufMirrorError } from '../../lib/errors';
import { OriginError } from '../../origin/errors';
import { errorAnswer, httpStatusOf, refusal } from '../../server/http-errors';
import { SyncError } from '../../sync/errors';
import { TrustRootError as TrustOutputError } from '../../trust/errors';
import { VerifyRequestError } from '../../verifier/errors';
import { RegistryError } from '../../verifier/oci';
import { PolicyError } from '../../lib/policy';
import { ImageReferenceError, parseReference } from '../../verifier/reference';
import { NoTrustRootError, parseTrustRoot, TrustRootError as VerifierTrustRootError } from '../../verifier/trust-root';

describe('one coded base error', () => {
  test('every module error is a TufMirrorError named after its class, with its code and cause', () => {
    const cause = new Error('ECONNRESET');
    const errors: TufMirrorError[] = [
      new SyncError('UPSTREAM_UNREACHABLE', 'down', 'timestamp', { cause }),
      new ConfigError('UNKNOWN_REPOSITORY', 'no repository named x'),
      new OriginError('KEY_MISSING', 'no key'),
      new BridgeError('SOURCE_EMPTY', 'nothing'),
      new RegistryError('NOT_FOUND', 'no such tag', 404, 'MANIFEST_UNKNOWN'),
      new ImageReferenceError('not an image reference'),
      new UsageError('bad flag'),
      new OutputError('cannot write x'),
    ];
    for (const err of errors) {
      assert.ok(err instanceof TufMirrorError && err instanceof Error, err.name);
      assert.equal(err.name, err.constructor.name);
    }
    assert.equal(errors[0].cause, cause);
    assert.equal(errors[1].code, 'UNKNOWN_REPOSITORY');
  });

  test('the image reference error does not shadow the global ReferenceError', () => {
    assert.throws(
      () => parseReference('Not A Reference'),
      (e: unknown) => e instanceof ImageReferenceError && !(e instanceof ReferenceError),
    );
  });

  test('the trust output and the verifier throw one TrustRootError class', () => {
    assert.equal(TrustOutputError, VerifierTrustRootError);
    assert.equal(TrustOutputError, TrustRootError);
    assert.throws(
      () => parseTrustRoot('{}', { repository: 'r', generation: 1, timestampVersion: 1 }),
      (e: unknown) => e instanceof TrustRootError && e.code === 'BAD_TRUSTED_ROOT' && e.cause instanceof Error,
    );
  });

  test('systemCode reads a Node error code, and nothing from what has none', () => {
    assert.equal(systemCode(Object.assign(new Error('x'), { code: 'ENOENT' })), 'ENOENT');
    for (const v of [new Error('x'), 'ENOENT', null, undefined, { code: 42 }]) assert.equal(systemCode(v), undefined);
  });
});

describe('the HTTP status of an error, in one place', () => {
  test('an answer carries code, field, message and details, never the cause', () => {
    const secret = new Error('Authorization: Bearer hunter2hunter2hunter2');
    const answer = errorAnswer(new SyncError('UPSTREAM_UNREACHABLE', 'upstream unreachable', undefined, { cause: secret }));
    assert.deepEqual(answer, { status: 502, body: { error: { code: 'UPSTREAM_UNREACHABLE', message: 'upstream unreachable' } } });
    assert.doesNotMatch(JSON.stringify(answer), /hunter2/);
  });

  test('the verifier errors keep the bodies they had', () => {
    assert.deepEqual(errorAnswer(new VerifyRequestError('image', 'required')), { status: 400, body: { error: { code: 'BAD_REQUEST', field: 'image', message: 'image: required' } } });
    assert.deepEqual(errorAnswer(new ImageReferenceError('not an image reference')), {
      status: 400,
      body: { error: { code: 'BAD_REQUEST', field: 'image', message: 'image: not an image reference' } },
    });
    assert.deepEqual(errorAnswer(new PolicyError('bad policy', ['policy.allOf[0].kind: invalid'])), {
      status: 400,
      body: { error: { code: 'BAD_POLICY', field: 'policy.allOf[0].kind', message: 'bad policy', issues: ['policy.allOf[0].kind: invalid'] } },
    });
    assert.deepEqual(errorAnswer(new NoTrustRootError('UNKNOWN_REPOSITORY', 'no repository named x')), {
      status: 404,
      body: { error: { code: 'UNKNOWN_REPOSITORY', field: 'repository', message: 'no repository named x' } },
    });
    assert.equal(httpStatusOf(new NoTrustRootError('NO_GENERATION', 'nothing yet')), 503);
    assert.deepEqual(errorAnswer(new TrustRootError('BAD_TRUSTED_ROOT', 'not a trusted root')), { status: 503, body: { error: { code: 'BAD_TRUSTED_ROOT', message: 'not a trusted root' } } });
    assert.deepEqual(errorAnswer(new RegistryError('REGISTRY_NOT_ALLOWED', 'not allowed')), { status: 403, body: { error: { code: 'REGISTRY_NOT_ALLOWED', field: 'image', message: 'not allowed' } } });
    assert.deepEqual(errorAnswer(new RegistryError('NOT_FOUND', 'no such tag', 404, 'MANIFEST_UNKNOWN')), {
      status: 404,
      body: { error: { code: 'NOT_FOUND', message: 'no such tag', registryStatus: 404, registryCode: 'MANIFEST_UNKNOWN' } },
    });
    assert.equal(httpStatusOf(new RegistryError('REGISTRY_TIMEOUT', 'slow')), 504);
    assert.deepEqual(errorAnswer(new BoundedJsonError('NOT_JSON', 'body is not JSON')), { status: 400, body: { error: { code: 'BAD_REQUEST', field: 'body', message: 'body is not JSON' } } });
    assert.equal(httpStatusOf(new BoundedJsonError('TOO_LARGE', 'too large')), 413);
    assert.equal(httpStatusOf(new BoundedJsonError('TOO_DEEP', 'too deep')), 400);
  });

  test("a sync failure: the upstream sending too much is 502, an upload too large 413; this mirror's own trouble 500 either way", () => {
    const tooLarge = new SyncError('RESPONSE_TOO_LARGE', 'too large');
    assert.equal(httpStatusOf(tooLarge), 502);
    assert.equal(httpStatusOf(tooLarge, 'request'), 413);
    for (const via of ['upstream', 'request'] as const) {
      assert.equal(httpStatusOf(new SyncError('TRUST_ANCHOR_INVALID', 'x'), via), 500);
      assert.equal(httpStatusOf(new SyncError('INTERNAL', 'x'), via), 500);
      assert.equal(httpStatusOf(new SyncError('SYNC_IN_PROGRESS', 'x'), via), 409);
      assert.equal(httpStatusOf(new SyncError('CANCELLED', 'x'), via), 503);
      assert.equal(httpStatusOf(new SyncError('UNSIGNED_METADATA', 'x'), via), 422);
    }
    assert.equal(httpStatusOf(new SyncError('UPSTREAM_TIMEOUT', 'x')), 504);
    assert.equal(httpStatusOf(new SyncError('ARCHIVE_INVALID', 'x'), 'request'), 400);
  });

  test('a bug is no answer (the 500 handler takes it), and a refusal is always one', () => {
    assert.equal(errorAnswer(new Error('boom')), undefined);
    assert.equal(errorAnswer(new OriginError('KEY_MISSING', 'not over HTTP')), undefined);
    assert.deepEqual(refusal('NOT_FOUND', 'no such API endpoint'), { status: 404, body: { error: { code: 'NOT_FOUND', message: 'no such API endpoint' } } });
    assert.equal(refusal('TOO_MANY_REQUESTS', 'busy').status, 429);
    assert.deepEqual(refusal('TIMEOUT', 'slow body', { field: 'body' }).body, { error: { code: 'TIMEOUT', field: 'body', message: 'slow body' } });
  });
});

describe('the exit code of an error, in one place', () => {
  test('kind, code and the stderr line of each module error', () => {
    assert.deepEqual(failureOf(new ConfigError('INVALID_CONFIG', 'invalid configuration')), {
      kind: 'config',
      code: 'INVALID_CONFIG',
      message: 'invalid configuration',
      line: 'invalid configuration',
    });
    assert.deepEqual(failureOf(new SyncError('EXPIRED_METADATA', 'timestamp expired')), {
      kind: 'failed',
      code: 'EXPIRED_METADATA',
      message: 'timestamp expired',
      line: 'EXPIRED_METADATA: timestamp expired',
    });
    assert.equal(failureOf(new OriginError('BAD_INPUT', 'x'))?.kind, 'usage');
    assert.equal(failureOf(new OriginError('KEY_MISSING', 'x'))?.kind, 'failed');
    assert.equal(failureOf(new BridgeError('NOT_A_BRIDGE', 'x'))?.kind, 'config');
    assert.equal(failureOf(new TrustRootError('MIRROR_URL_REQUIRED', 'x'))?.kind, 'config');
    assert.equal(failureOf(new TrustRootError('UNKNOWN_FORMAT', 'x'))?.kind, 'usage');
    assert.equal(failureOf(new TrustRootError('BAD_TRUSTED_ROOT', 'x'))?.kind, 'failed');
    assert.equal(failureOf(new NoTrustRootError('UNKNOWN_REPOSITORY', 'x'))?.kind, 'config');
    assert.equal(failureOf(new RegistryError('REGISTRY_NOT_ALLOWED', 'x'))?.kind, 'failed');
    assert.deepEqual(failureOf(new ImageReferenceError('not an image reference')), {
      kind: 'usage',
      code: 'BAD_REQUEST',
      message: 'image: not an image reference',
      line: 'BAD_REQUEST: image: not an image reference',
    });
    assert.deepEqual(failureOf(new CommanderError(1, 'commander.unknownOption', "error: unknown option '--bogus'")), {
      kind: 'usage',
      code: 'USAGE',
      message: "error: unknown option '--bogus'",
      line: "error: unknown option '--bogus'",
    });
    assert.equal(failureOf(new Error('boom')), undefined);
  });
});
