import type { Command } from 'commander';
import { bridgeContext, checkBridge, initBridge, promoteBridge } from '../../bridge/bridge';
import type { BridgeDecision } from '../../store/store';
import { EXIT } from '../options';
import { bridgeReport, printJson } from '../report';
import { initialized, initializedFacts, keyCountOptions, keyOptionsOf, registerKeyRoutines, withSigned, type KeyCountFlags } from './signing';

/** The decision, its gate findings and what each consumer leaves out, as an operator reads them. */
function describe(name: string, d: BridgeDecision): string {
  const lines = [`${name}: ${d.outcome}: ${d.message}`];
  if (d.changes.length) lines.push(`  changes: ${d.changes.join(' ')}`);
  for (const f of d.findings) lines.push(`  ${f.blocking ? 'BLOCKING' : 'notice'} ${f.code}${f.consumer ? ` [${f.consumer}]` : ''}: ${f.message}`);
  for (const c of d.consumers) if (c.leftOut.length) lines.push(`  ${c.consumer} (${c.outputs.join(', ')}) leaves out: ${c.leftOut.join(', ')}`);
  return lines.join('\n') + '\n';
}

/**
 * `tuf-mirror bridge …`: a repository signed by the site's keys whose targets are what a verified
 * generation of another repository resolves to, re-signed to outlive the transfers across a gap.
 */
export function registerBridge(program: Command): void {
  const bridge = program.command('bridge').description("re-sign a mirrored repository's verified targets with the site's keys, for air gaps (repository kind: bridge)");

  keyCountOptions(
    bridge
      .command('init')
      .description("create the site keys and root v1, and publish the source's current verified targets as generation 1")
      .argument('<name>', 'the repository (kind: bridge in the configuration)')
      .option('--force', 'initialize even if the compatibility gate finds a blocking problem')
      .option('--json', 'print what was created and the decision as JSON'),
  ).action(async (name: string, o: KeyCountFlags & { force?: boolean; json?: boolean }, cmd: Command) => {
    await withSigned(cmd, 'bridge', name, async (ctx, config) => {
      const r = await initBridge(bridgeContext(config, ctx.store, ctx.repository, ctx.logger), { ...keyOptionsOf(o, new Date()), force: o.force });
      if (o.json) printJson({ ...initializedFacts(name, r), decision: r.decision });
      else process.stdout.write(initialized(name, r) + describe(name, r.decision));
    });
  });

  bridge
    .command('check')
    .description("compare the source's verified generation with what is promoted and run the compatibility gate; publishes nothing")
    .argument('<name>')
    .option('--json', 'print the decision as JSON')
    .action(async (name: string, o: { json?: boolean }, cmd: Command) => {
      await withSigned(cmd, 'bridge', name, async (ctx, config) => {
        const d = await checkBridge(bridgeContext(config, ctx.store, ctx.repository, ctx.logger));
        if (o.json) printJson(bridgeReport(name, d));
        else process.stdout.write(describe(name, d));
        if (d.outcome === 'held' || d.outcome === 'failed' || d.outcome === 'source-unavailable') process.exitCode = EXIT.failed;
      });
    });

  bridge
    .command('promote')
    .description("publish the source's verified generation as the next targets (the targets key: online, or brought back with --keys-dir)")
    .argument('<name>')
    .option('--keys-dir <dir>', 'where the (offline) targets keys are, if not in the configured keysDir')
    .option('--force', 'promote a candidate the compatibility gate holds')
    .option('--json', 'print the decision as JSON')
    .action(async (name: string, o: { keysDir?: string; force?: boolean; json?: boolean }, cmd: Command) => {
      await withSigned(cmd, 'bridge', name, async (ctx, config) => {
        const d = await promoteBridge(bridgeContext(config, ctx.store, ctx.repository, ctx.logger), { keysDir: o.keysDir, force: o.force });
        if (o.json) printJson(bridgeReport(name, d));
        else process.stdout.write(describe(name, d));
      });
    });

  registerKeyRoutines(bridge, 'bridge');
}
