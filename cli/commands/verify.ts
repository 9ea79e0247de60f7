import type { Command } from 'commander';
import * as fs from 'node:fs';
import { failureOf, UsageError } from '../exit-codes';
import { configFrom, EXIT, repositoryNamed } from '../options';
import { systemCode, TufMirrorError } from '../../lib/errors';
import { Store } from '../../store/store';
import { verifyBlobBundle, type BundleAnswer, type Requirement } from '../../verifier/blob';
import { parseDigest, parsePublicKey, type Artifact } from '../../lib/signature';
import { errorAnswer } from '../../server/http-errors';
import { PolicyError, parsePolicy } from '../../lib/policy';
import { createVerifierService } from '../../verifier/service';
import { trustRootsFromStore } from '../../verifier/sources';
import { parseTrustRoot, TrustRootError, NoTrustRootError, type TrustRoot } from '../../verifier/trust-root';

type BundleOptions = {
  bundle: string;
  certificateIdentity?: string;
  certificateOidcIssuer?: string;
  key?: string;
  trustedRoot?: string;
  staging?: boolean;
  repository?: string;
  json?: boolean;
};

/** A --key that is not a public key: a rejection (exit 1), like a wrong key. */
class KeyError extends TufMirrorError<'PUBLIC_KEY_ERROR'> {
  constructor(message: string) {
    super('PUBLIC_KEY_ERROR', message);
  }
}

function readFile(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${file}: ${systemCode(err) ?? String(err)}`);
  }
}

/**
 * `tuf-mirror verify-bundle`: the Sigstore conformance client protocol, verified against the
 * mirrored trusted_root.json (or --trusted-root). Exit 0 verified, 1 rejected, 2 usage, 3 config.
 */
export function registerVerifyBundle(program: Command): void {
  program
    .command('verify-bundle')
    .description('verify a Sigstore bundle for a file or sha256:DIGEST (the Sigstore conformance protocol)')
    .argument('<file-or-digest>', 'the artifact, or sha256:<hex> of it')
    .requiredOption('--bundle <file>', 'the Sigstore bundle (JSON)')
    .option('--certificate-identity <id>', 'the exact certificate identity (SAN: URI or email)')
    .option('--certificate-oidc-issuer <url>', 'the exact OIDC issuer')
    .option('--key <file>', 'PEM public key, for bundles signed with a managed key')
    .option('--trusted-root <file>', 'a trusted_root.json to use instead of the mirrored one')
    .option('--staging', 'use the mirrored repository named "staging"')
    .option('--repository <name>', 'the mirrored repository whose trusted_root.json to use (default: the default one)')
    .option('--json', 'print the answer as JSON')
    .action((target: string, opts: BundleOptions, cmd: Command) => {
      let answer: BundleAnswer;
      try {
        const artifact = artifactOf(target);
        const trustRoot = opts.trustedRoot ? trustRootFromFile(opts.trustedRoot) : mirroredTrustRoot(cmd, opts.staging ? 'staging' : opts.repository);
        let requirement: Requirement;
        try {
          requirement = bundleRequirement(opts);
        } catch (err) {
          // A key that is not a key cannot verify anything: a rejection, like a wrong key.
          if (!(err instanceof KeyError)) throw err;
          return report({ verified: false, reasons: [err.message], trustRoot: trustRoot.source }, opts.json);
        }
        let bundleJson: unknown;
        try {
          bundleJson = JSON.parse(readFile(opts.bundle, 'bundle').toString('utf8'));
        } catch (err) {
          if (err instanceof UsageError) throw err;
          answer = { verified: false, reasons: [`MALFORMED_BUNDLE: ${opts.bundle} is not JSON: ${(err as Error).message}`], trustRoot: trustRoot.source };
          return report(answer, opts.json);
        }
        answer = verifyBlobBundle(bundleJson, artifact, trustRoot, requirement);
      } catch (err) {
        if (err instanceof UsageError || err instanceof TrustRootError || err instanceof NoTrustRootError) {
          process.stderr.write(`tuf-mirror verify-bundle: ${err.message}\n`);
          process.exitCode = EXIT[failureOf(err)?.kind ?? 'failed'];
          return;
        }
        throw err;
      }
      report(answer, opts.json);
    });
}

function report(answer: BundleAnswer, json: boolean | undefined): void {
  if (json) process.stdout.write(JSON.stringify(answer, null, 2) + '\n');
  else if (answer.verified) {
    const s = answer.signer;
    const who = s.kind === 'certificate' ? `${String(s.identity?.subject)} (issuer ${String(s.identity?.issuer)})` : `key sha256:${s.keyId}`;
    const log = s.logIndex !== null ? `, tlog index ${s.logIndex}` : '';
    process.stdout.write(`OK: signed by ${who}${log}; trust root ${trustRootName(answer.trustRoot)}\n`);
  } else {
    process.stderr.write(`FAILED: ${answer.reasons.join('; ')}\n`);
  }
  process.exitCode = answer.verified ? EXIT.ok : EXIT.failed;
}

export function trustRootName(t: { repository: string; generation: number | null; timestampVersion: number | null }): string {
  return t.generation === null ? t.repository : `${t.repository} generation ${t.generation} (timestamp v${String(t.timestampVersion)})`;
}

function bundleRequirement(opts: BundleOptions): Requirement {
  const identity = opts.certificateIdentity !== undefined || opts.certificateOidcIssuer !== undefined;
  if (opts.key && identity) throw new UsageError('give either --key or --certificate-identity with --certificate-oidc-issuer, not both');
  if (opts.key) {
    try {
      return { kind: 'key', keys: [parsePublicKey(readFile(opts.key, 'key').toString('utf8'))] };
    } catch (err) {
      if (err instanceof UsageError) throw err;
      throw new KeyError(`PUBLIC_KEY_ERROR: --key ${opts.key}: ${(err as Error).message}`);
    }
  }
  if (!opts.certificateIdentity || !opts.certificateOidcIssuer) {
    throw new UsageError('give --certificate-identity and --certificate-oidc-issuer, or --key');
  }
  return { kind: 'identity', subject: { equal: opts.certificateIdentity }, issuer: opts.certificateOidcIssuer };
}

function artifactOf(target: string): Artifact {
  if (target.startsWith('sha256:')) {
    const digest = parseDigest(target);
    if (!digest) throw new UsageError(`${target}: a digest is sha256: followed by 64 lowercase hex digits`);
    return { kind: 'digest', algorithm: 'sha256', digest };
  }
  return { kind: 'bytes', bytes: readFile(target, 'artifact') };
}

function trustRootFromFile(file: string): TrustRoot {
  return parseTrustRoot(readFile(file, 'trusted root'), { repository: 'file', generation: null, timestampVersion: null });
}

function mirroredTrustRoot(cmd: Command, repository: string | undefined): TrustRoot {
  const config = configFrom(cmd);
  if (repository && !config.repositories.some((r) => r.name === repository)) {
    throw new NoTrustRootError('UNKNOWN_REPOSITORY', `no repository named ${repository} in ${config.origin} (configured: ${config.repositories.map((r) => r.name).join(', ')})`);
  }
  const store = Store.open(config.dataDir);
  try {
    return trustRootsFromStore(store, config)(repository);
  } finally {
    store.close();
  }
}

/** `tuf-mirror verify IMAGE --policy FILE`: exit 0 only when verified, 1 not verified or unanswerable, 2 usage, 3 config. */
export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description("verify an image's signatures against a policy and the mirrored trusted_root.json")
    .argument('<image>', 'image reference: registry/repository[:tag][@sha256:digest]')
    .requiredOption('--policy <file>', 'Kubewarden v1 verification config (YAML or JSON)')
    .option('--repository <name>', 'the mirrored repository whose trusted_root.json to use (default: the default one)')
    .option('--json', 'print the answer as JSON')
    .action(async (image: string, opts: { policy: string; repository?: string; json?: boolean }, cmd: Command) => {
      const config = configFrom(cmd);
      if (opts.repository) repositoryNamed(config, opts.repository);
      let policy;
      try {
        policy = parsePolicy(readFile(opts.policy, 'policy').toString('utf8'), 'policy');
      } catch (err) {
        if (!(err instanceof UsageError) && !(err instanceof PolicyError)) throw err;
        process.stderr.write(`tuf-mirror verify: ${opts.policy}: ${err instanceof PolicyError ? err.issues.join('\n  ') : err.message}\n`);
        process.exitCode = EXIT[failureOf(err)?.kind ?? 'usage'];
        return;
      }
      const store = Store.open(config.dataDir);
      const service = createVerifierService(config, trustRootsFromStore(store, config));
      try {
        const answer = await service.images.verify(image, policy, opts.repository);
        if (opts.json) process.stdout.write(JSON.stringify(answer, null, 2) + '\n');
        else if (answer.verified) {
          process.stdout.write(`OK: ${answer.image} verified under trust root ${trustRootName(answer.trustRoot)}\n`);
          for (const s of answer.signatures) {
            const who = s.identity ? `${String(s.identity.subject)} (issuer ${String(s.identity.issuer)})` : `key sha256:${String(s.keyId)}`;
            process.stdout.write(`  ${s.entry} ${s.kind}: ${who}; ${s.location}${s.logIndex !== null ? `; tlog index ${s.logIndex} at ${String(s.integratedTime)}` : ''}\n`);
          }
        } else {
          process.stderr.write(`NOT VERIFIED: ${answer.image}\n${answer.reasons.map((r) => `  ${r}\n`).join('')}`);
        }
        process.exitCode = answer.verified ? EXIT.ok : EXIT.failed;
      } catch (err) {
        const e = errorAnswer(err);
        if (!e) throw err;
        const reg = e.body.error.registryStatus !== undefined ? ` (registry answered ${e.body.error.registryStatus}${e.body.error.registryCode ? ` ${e.body.error.registryCode}` : ''})` : '';
        if (opts.json) process.stdout.write(JSON.stringify({ status: e.status, ...e.body }, null, 2) + '\n');
        else process.stderr.write(`tuf-mirror verify: ${e.body.error.code}: ${e.body.error.message}${reg}\n`);
        // Unanswerable is a failure; a malformed image reference is the command line's fault.
        process.exitCode = EXIT[failureOf(err)?.kind ?? 'failed'];
      } finally {
        service.registry.close();
        store.close();
      }
    });
}
