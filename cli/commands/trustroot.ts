import type { Command } from 'commander';
import { configFrom, EXIT, repositoryNamed } from '../options';
import { writeOutput } from '../output';
import { Store } from '../../store/store';
import { checkFormat, FORMAT_NAMES, FORMATS, needsMirrorUrl, renderTrustRoot } from '../../trust/formats';
import { loadTrustMaterial } from '../../trust/material';
import { parseList, resolveMirrorUrl } from '../../trust/options';

type TrustrootOptions = {
  issuer?: string;
  subject?: string[];
  subjectRegexp?: string[];
  subjectUrlPrefix?: string[];
  image?: string[];
  trustRootName?: string;
  failureAction?: string;
  format?: string;
  out?: string;
  mirrorUrl?: string;
  targets?: string;
  all?: boolean;
  name?: string;
  namespace?: string;
  trustedRootTarget?: string;
};

const repeatable = (value: string, previous: string[] = []): string[] => [...previous, value];

/** `tuf-mirror trustroot <repo> --format F`: the served generation in a consumer's own shape. */
export function registerTrustroot(program: Command): void {
  program
    .command('trustroot')
    .description("hand out a repository's trust root: policy-controller TrustRoot, Kubewarden, Kyverno, cosign")
    .argument('<repository>', 'repository name')
    .option('-f, --format <format>', `one of:\n${FORMAT_NAMES.map((f) => `  ${f.padEnd(21)} ${FORMATS[f].description}`).join('\n')}`)
    .option('-o, --out <file>', 'write to FILE instead of stdout')
    .option('--mirror-url <url>', "this repository's URL as clients reach it (default: server.publicUrl, plus /<name> for a non-default repository)")
    .option('--targets <names>', 'repository: keep only these target files, comma-separated (default: all)')
    .option('--all', 'sigstore-keys: keep entries outside their validity window too')
    .option('--name <name>', 'metadata.name (default: tuf-mirror-<repository>[-…]); for Helm values, the ConfigMap they mount')
    .option('--namespace <namespace>', 'metadata.namespace: kubewarden-configmap (default: kubewarden), flux-secret (default: flux-system)')
    .option('--trusted-root-target <name>', 'the target holding the Sigstore trusted root (default: trusted_root.json)')
    .option('--issuer <url>', 'policy formats: the OIDC issuer signatures must come from, exactly as the certificate says it')
    .option('--subject <subject>', 'policy formats: a signer identity (the certificate SAN), exact; repeat for several (any one admits)', repeatable)
    .option('--subject-regexp <re2>', 'policy formats: a signer identity as an RE2 pattern (not Kubewarden); repeatable', repeatable)
    .option('--subject-url-prefix <url>', 'policy formats: signer identities under a URL, ending at a "/"; repeatable', repeatable)
    .option('--image <glob>', 'cluster-image-policy, kyverno-cluster-policy: the images the policy covers; repeatable', repeatable)
    .option('--trust-root-name <name>', 'cluster-image-policy, policy-controller-values-no-tuf: the TrustRoot they name (default: tuf-mirror-<repository>)')
    .option('--failure-action <action>', 'kyverno-cluster-policy: Audit (default) or Enforce')
    .action((name: string, opts: TrustrootOptions, cmd: Command) => {
      const config = configFrom(cmd);
      const repository = repositoryNamed(config, name);
      const say = (line: string): boolean => process.stderr.write(`tuf-mirror: ${line}\n`);
      const format = checkFormat(opts.format);
      const mirrorUrl = needsMirrorUrl(format) ? resolveMirrorUrl(opts.mirrorUrl, config, repository) : undefined;
      const store = Store.open(config.dataDir);
      let output;
      try {
        output = renderTrustRoot(loadTrustMaterial(store, repository.name), format, {
          mirrorUrl,
          targets: parseList(opts.targets),
          all: opts.all,
          name: opts.name,
          namespace: opts.namespace,
          trustedRootTarget: opts.trustedRootTarget,
          identity: { issuer: opts.issuer, subjects: opts.subject, subjectRegexps: opts.subjectRegexp, subjectUrlPrefixes: opts.subjectUrlPrefix, images: opts.image },
          trustRootName: opts.trustRootName,
          failureAction: opts.failureAction,
        });
      } finally {
        store.close();
      }
      // stdout is the answer alone; everything said about it goes to stderr.
      for (const note of output.notes) say(note);
      for (const warning of output.warnings) say(`warning: ${warning}`);
      if (opts.out) {
        writeOutput(opts.out, output.body);
        say(`wrote ${opts.out} (${output.body.length} bytes)`);
      } else {
        process.stdout.write(output.body);
      }
      process.exitCode = EXIT.ok;
    });
}
