/**
 * What `tuf-mirror origin` and `tuf-mirror bridge` share: opening the repository signed here,
 * generating keys, printing what was signed, and the key routines (resign, rotate-root, sign, publish).
 */
import type { Command } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config, RepositoryConfig } from '../../config/config';
import { ConfigError } from '../../config/config';
import { createLogger } from '../../lib/log';
import { OriginError } from '../../origin/errors';
import type { KeyType } from '../../origin/keys';
import { prepareRootRotation, publishPendingRoot, readPendingRoot, resignOrigin, signPendingRoot, type Initialized, type KeyOptions, type OriginContext } from '../../origin/origin';
import { serialize, TOP_ROLES, type TopRole } from '../../origin/repository';
import { Store, type GenerationRecord } from '../../store/store';
import { configFrom, repositoryNamed } from '../options';
import { printJson } from '../report';
import { systemCode } from '../../lib/errors';

export type SignedKind = 'origin' | 'bridge';

function signedRepositoryOf(config: Config, name: string, kind: SignedKind): RepositoryConfig {
  const repository = repositoryNamed(config, name);
  if (repository.kind !== kind) throw new ConfigError('INVALID_CONFIG', `repository ${name} is kind: ${repository.kind ?? 'mirror'}, not kind: ${kind}`);
  return repository;
}

/** Open the store, run, close. An OriginError or BridgeError reaches the exit-code contract: nothing was written. */
export async function withSigned(cmd: Command, kind: SignedKind, name: string, fn: (ctx: OriginContext, config: Config) => Promise<void>): Promise<void> {
  const config = configFrom(cmd);
  const repository = signedRepositoryOf(config, name, kind);
  const store = Store.open(config.dataDir);
  try {
    store.ensureRepository(repository.name, repository.upstream);
    await fn({ store, repository, logger: createLogger(process.env.TUF_MIRROR_LOG_LEVEL ?? 'warn', 2) }, config);
  } finally {
    store.close();
  }
}

/** What a command signed here did: a sentence, or with --json the same facts under the shared field names. */
export function report(json: boolean | undefined, facts: Record<string, unknown>, text: string): void {
  if (json) printJson(facts);
  else process.stdout.write(text);
}

export const generationFacts = (name: string, g: GenerationRecord): Record<string, unknown> => ({ repository: name, generation: g.id, roles: g.summary.roles, targets: g.summary.targets });

export const initializedFacts = (name: string, r: Initialized): Record<string, unknown> => ({ ...generationFacts(name, r.generation), anchor: r.anchor, keys: r.keyFiles });

/** What an init prints: the generation, the anchor to hand out, the keys to move offline. */
export function initialized(name: string, r: Initialized): string {
  const g = r.generation;
  return [
    `${name}: generation ${g.id} (root v${g.rootVersion}, targets v${g.targetsVersion}, snapshot v${g.snapshotVersion}, timestamp v${g.timestampVersion}); targets: ${g.summary.targets.join(', ')}`,
    `trust anchor (give it to clients): ${r.anchor}`,
    'keys (owner-only); move the root-* and targets-* ones offline, the service needs only timestamp-* and snapshot-*:',
    ...r.keyFiles.map((f) => `  ${f}`),
    '',
  ].join('\n');
}

/** --key-type, --root-keys … of an init. */
export function keyCountOptions(c: Command): Command {
  return c
    .option('--key-type <type>', 'ecdsa (P-256, default) or ed25519', 'ecdsa')
    .option('--root-keys <n>', 'number of root keys', '1')
    .option('--root-threshold <n>', 'root threshold', '1')
    .option('--targets-keys <n>', 'number of targets keys', '1')
    .option('--targets-threshold <n>', 'targets threshold', '1');
}

export type KeyCountFlags = { keyType: string; rootKeys: string; rootThreshold: string; targetsKeys: string; targetsThreshold: string };

export function keyOptionsOf(o: KeyCountFlags, now: Date): KeyOptions {
  const n = (v: string, what: string) => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < 1) throw new OriginError('BAD_INPUT', `${what}: "${v}" is not a positive whole number`);
    return x;
  };
  if (o.keyType !== 'ecdsa' && o.keyType !== 'ed25519') throw new OriginError('BAD_INPUT', `--key-type: "${o.keyType}" is not ecdsa or ed25519`);
  return {
    keyType: o.keyType,
    keys: {
      root: { count: n(o.rootKeys, '--root-keys'), threshold: n(o.rootThreshold, '--root-threshold') },
      targets: { count: n(o.targetsKeys, '--targets-keys'), threshold: n(o.targetsThreshold, '--targets-threshold') },
      snapshot: { count: 1, threshold: 1 },
      timestamp: { count: 1, threshold: 1 },
    },
    now,
  };
}

/** `resign`, `rotate-root`, `sign`, `publish` under `group` (`tuf-mirror origin` or `tuf-mirror bridge`). */
export function registerKeyRoutines(group: Command, kind: SignedKind): void {
  registerResign(group, kind);
  registerRotateRoot(group, kind);
  registerSign(group);
  registerPublish(group, kind);
}

type RotateRootOptions = { replace: string; threshold?: string[]; keysDir?: string; keyType: string; out?: string; pendingFile?: string; json?: boolean };

function registerResign(group: Command, kind: SignedKind): void {
  group
    .command('resign')
    .description(`re-sign timestamp (and snapshot, targets when due and its keys are at hand) with the online key now; the service does this on ${kind}.resignSchedule`)
    .argument('<name>')
    .option('--json', 'print the new generation as JSON')
    .action(async (name: string, o: { json?: boolean }, cmd: Command) => {
      await withSigned(cmd, kind, name, async (ctx) => {
        const g = await resignOrigin(ctx, { force: true });
        if (g) report(o.json, generationFacts(name, g), `${name}: generation ${g.id} (timestamp v${g.timestampVersion}, snapshot v${g.snapshotVersion}, targets v${g.targetsVersion})\n`);
      });
    });
}

function registerRotateRoot(group: Command, kind: SignedKind): void {
  const cli = `tuf-mirror ${kind}`;
  group
    .command('rotate-root')
    .description('make root N+1 with new keys / thresholds, signed by every key at hand; publish it if both thresholds are met')
    .argument('<name>')
    .option('--replace <roles>', `roles whose keys are all replaced, comma-separated (${TOP_ROLES.join(', ')})`, '')
    .option('--threshold <role=n>', 'a new threshold, e.g. root=2 (repeatable)', (value: string, previous: string[] | undefined) => [...(previous ?? []), value])
    .option('--keys-dir <dir>', 'where the current keys are and the new ones go (default: the configured keysDir)')
    .option('--key-type <type>', 'type of new keys: ecdsa or ed25519', 'ecdsa')
    .option('--out <file>', 'write the pending root here for offline signers instead of publishing')
    .option('--pending-file <file>', 'where the pending root goes when the keys at hand cannot meet both thresholds (default: <keys-dir>/<name>-root-v<N>.pending.json)')
    .option('--json', 'print the outcome as JSON')
    .action(async (name: string, o: RotateRootOptions, cmd: Command) => {
      await withSigned(cmd, kind, name, async (ctx) => {
        const keysDir = o.keysDir ?? ctx.repository.origin?.keysDir ?? '';
        const { pending, newKeyFiles, signatures } = prepareRootRotation(ctx, { ...rotationOf(o), keysDir });
        const version = pending.signed.version;
        if (!o.json) for (const f of newKeyFiles) process.stdout.write(`new key: ${f}\n`);
        if (o.out) {
          const out = path.resolve(o.out);
          writePending(out, serialize(pending));
          report(
            o.json,
            { repository: name, published: false, version, signatures, pending: out, newKeys: newKeyFiles },
            `root v${version} with ${signatures} signature(s) written to ${out}: add signatures with ${cli} sign ${out} --key KEY, then ${cli} publish ${name} ${out}\n`,
          );
          return;
        }
        try {
          const g = await publishPendingRoot(ctx, pending, keysDir);
          report(o.json, { ...generationFacts(name, g), published: true, version, newKeys: newKeyFiles }, `${name}: root v${g.rootVersion} published in generation ${g.id}\n`);
        } catch (err) {
          if (!(err instanceof OriginError) || err.code !== 'THRESHOLD_NOT_MET') throw err;
          // Beside the keys by default: the operator who holds them decides where it goes, never the working directory.
          const file = path.resolve(o.pendingFile ?? path.join(keysDir, `${name}-root-v${version}.pending.json`));
          writePending(file, serialize(pending));
          throw new OriginError('THRESHOLD_NOT_MET', `${err.message}\n  the pending root is in ${file}: collect signatures with ${cli} sign ${file} --key KEY, then ${cli} publish ${name} ${file}`);
        }
      });
    });
}

/** What --replace, --threshold and --key-type ask of a root rotation. */
function rotationOf(o: RotateRootOptions): { replace: TopRole[]; thresholds: Partial<Record<TopRole, number>>; keyType: KeyType } {
  const replace: TopRole[] = [];
  for (const r of o.replace ? o.replace.split(',') : []) {
    const role = TOP_ROLES.find((t) => t === r);
    if (!role) throw new OriginError('BAD_INPUT', `--replace: unknown role ${r}`);
    replace.push(role);
  }
  const thresholds: Partial<Record<TopRole, number>> = {};
  for (const t of o.threshold ?? []) {
    const [r, n] = t.split('=');
    const role = TOP_ROLES.find((x) => x === r);
    if (!role || !(Number(n) >= 1)) throw new OriginError('BAD_INPUT', `--threshold ${t}: expected ROLE=N`);
    thresholds[role] = Number(n);
  }
  if (o.keyType !== 'ecdsa' && o.keyType !== 'ed25519') throw new OriginError('BAD_INPUT', `--key-type: "${o.keyType}" is not ecdsa or ed25519`);
  return { replace, thresholds, keyType: o.keyType };
}

function registerSign(group: Command): void {
  group
    .command('sign')
    .description('add the signature of one key (an offline signer) to a pending root file')
    .argument('<file>', 'the pending root')
    .requiredOption('--key <file>', 'the private key (PEM)')
    .option('--json', 'print the outcome as JSON')
    .action((file: string, o: { key: string; json?: boolean }) => {
      const r = signPendingRoot(file, o.key);
      report(o.json, { pending: path.resolve(file), keyId: r.keyID, signatures: r.signatures }, `signed by ${r.keyID}; ${r.signatures} signature(s) now\n`);
    });
}

function registerPublish(group: Command, kind: SignedKind): void {
  group
    .command('publish')
    .description('check the thresholds of root N and N+1 on a pending root and publish it')
    .argument('<name>')
    .argument('<file>', 'the pending root')
    .option('--keys-dir <dir>', 'where the keys for re-signing targets/snapshot/timestamp are (default: the configured keysDir)')
    .option('--json', 'print the new generation as JSON')
    .action(async (name: string, file: string, o: { keysDir?: string; json?: boolean }, cmd: Command) => {
      await withSigned(cmd, kind, name, async (ctx) => {
        const g = await publishPendingRoot(ctx, readPendingRoot(file), o.keysDir ?? ctx.repository.origin?.keysDir ?? '');
        report(o.json, { ...generationFacts(name, g), published: true, version: g.rootVersion }, `${name}: root v${g.rootVersion} published in generation ${g.id}\n`);
      });
    });
}

/** A pending root that cannot be written is said so, with the flag that moves it. */
function writePending(file: string, bytes: string | Buffer): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, bytes);
  } catch (err) {
    throw new OriginError('BAD_INPUT', `cannot write the pending root to ${file}: ${systemCode(err) ?? String(err)} (give another place with --pending-file or --out)`);
  }
}
