import type { Command } from 'commander';
import { configFrom, EXIT, repositoryNamed } from '../options';
import { writeOutput } from '../output';
import { Store } from '../../store/store';
import { checkFormat, FORMAT_NAMES, FORMATS, needsMirrorUrl, renderTrustRoot } from '../../trust/formats';
import { loadTrustMaterial } from '../../trust/material';
import { parseList, resolveMirrorUrl } from '../../trust/options';

type TrustrootOptions = {
  format?: string;
  out?: string;
  mirrorUrl?: string;
  targets?: string;
  all?: boolean;
  name?: string;
  namespace?: string;
  trustedRootTarget?: string;
};

/** `tuf-mirror trustroot <repo> --format F`: the served generation in a consumer's own shape. */
export function registerTrustroot(program: Command): void {
  program
    .command('trustroot')
    .description('hand out a repository\'s trust root: policy-controller TrustRoot, Kubewarden, Kyverno, cosign')
    .argument('<repository>', 'repository name')
    .option('-f, --format <format>', `one of:\n${FORMAT_NAMES.map((f) => `  ${f.padEnd(21)} ${FORMATS[f].description}`).join('\n')}`)
    .option('-o, --out <file>', 'write to FILE instead of stdout')
    .option('--mirror-url <url>', "this repository's URL as clients reach it (default: server.publicUrl, plus /<name> for a non-default repository)")
    .option('--targets <names>', 'repository: keep only these target files, comma-separated (default: all)')
    .option('--all', 'sigstore-keys: keep entries outside their validity window too')
    .option('--name <name>', 'metadata.name (default: tuf-mirror-<repository>[-trust-config])')
    .option('--namespace <namespace>', 'metadata.namespace: kubewarden-configmap (default: kubewarden), flux-secret (default: flux-system)')
    .option('--trusted-root-target <name>', 'the target holding the Sigstore trusted root (default: trusted_root.json)')
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
