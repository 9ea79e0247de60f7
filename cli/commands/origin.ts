import type { Command } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config, RepositoryConfig } from '../../config/config';
import { ConfigError } from '../../config/config';
import { createLogger } from '../../lib/log';
import { OriginError } from '../../origin/errors';
import type { KeyType } from '../../origin/keys';
import { initOrigin, prepareRootRotation, publishPendingRoot, readPendingRoot, resignOrigin, signPendingRoot, updateOriginKeys, type OriginContext } from '../../origin/origin';
import { serialize, TOP_ROLES, type TopRole } from '../../origin/repository';
import type { AuthoritySpec, LogSpec, TrustMaterial, Validity } from '../../origin/trust-material';
import { Store, type GenerationRecord } from '../../store/store';
import { configFrom, repositoryNamed } from '../options';
import { printJson } from '../report';

/** `url=https://rekor.local,key=rekor.pub,start=2026-01-01T00:00:00Z` → fields; a bare value is `file`. */
function fields(spec: string, option: string, allowed: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of spec.split(',')) {
    const eq = part.indexOf('=');
    const [k, v] = eq < 0 ? ['file', part] : [part.slice(0, eq), part.slice(eq + 1)];
    if (!allowed.includes(k)) throw new OriginError('BAD_INPUT', `${option} ${spec}: unknown field "${k}" (fields: ${allowed.join(', ')})`);
    out[k] = v;
  }
  return out;
}

function time(value: string | undefined, option: string, fallback: string): string {
  if (value === undefined) return fallback;
  if (Number.isNaN(Date.parse(value))) throw new OriginError('BAD_INPUT', `${option}: "${value}" is not a time (RFC 3339, e.g. 2026-01-01T00:00:00Z)`);
  return new Date(value).toISOString().replace(/\.000Z$/, 'Z');
}

function readFile(file: string | undefined, option: string): string {
  if (!file) throw new OriginError('BAD_INPUT', `${option}: a file is required`);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new OriginError('BAD_INPUT', `${option}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
}

function validity(f: Record<string, string>, option: string, start: string): Validity {
  const v: Validity = { start: time(f.start, `${option} start`, start) };
  if (f.end) v.end = time(f.end, `${option} end`, '');
  return v;
}

const authority = (option: string, keyField: string, defaultUrl?: string) => (spec: string, start: string): AuthoritySpec => {
  const f = fields(spec, option, ['file', 'url', keyField, 'start', 'end']);
  const url = f.url ?? defaultUrl;
  if (!url) throw new OriginError('BAD_INPUT', `${option} ${spec}: url= is required`);
  return { url, chainPem: readFile(f[keyField] ?? f.file, option), validFor: validity(f, option, start) };
};
const log = (option: string) => (spec: string, start: string): LogSpec => {
  const f = fields(spec, option, ['url', 'key', 'start', 'end']);
  if (!f.url) throw new OriginError('BAD_INPUT', `${option} ${spec}: url= is required`);
  return { url: f.url, keyPem: readFile(f.key, option), validFor: validity(f, option, start) };
};

type MaterialOptions = { fulcio?: string[]; fulcioUrl?: string; rekor?: string[]; ctlog?: string[]; tsa?: string[]; oidcIssuer?: string[]; startTime?: string };

function material(o: MaterialOptions, now: Date): Partial<TrustMaterial> {
  const start = time(o.startTime, '--start-time', now.toISOString().replace(/\.\d{3}Z$/, 'Z'));
  return {
    certificateAuthorities: (o.fulcio ?? []).map((s) => authority('--fulcio', 'chain', o.fulcioUrl)(s, start)),
    tlogs: (o.rekor ?? []).map((s) => log('--rekor')(s, start)),
    ctlogs: (o.ctlog ?? []).map((s) => log('--ctlog')(s, start)),
    timestampAuthorities: (o.tsa ?? []).map((s) => authority('--tsa', 'chain')(s, start)),
    oidcIssuers: (o.oidcIssuer ?? []).map((url) => ({ url, validFor: { start } })),
  };
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function originOf(config: Config, name: string): RepositoryConfig {
  const repository = repositoryNamed(config, name);
  if (repository.kind !== 'origin') throw new ConfigError(`repository ${name} is a mirror, not kind: origin`);
  return repository;
}

/** Open the store, run, close. An OriginError reaches the exit-code contract: nothing was written. */
async function withOrigin(cmd: Command, name: string, fn: (ctx: OriginContext) => Promise<void>): Promise<void> {
  const config = configFrom(cmd);
  const repository = originOf(config, name);
  const store = Store.open(config.dataDir);
  try {
    store.ensureRepository(repository.name, repository.upstream);
    await fn({ store, repository, logger: createLogger(process.env.TUF_MIRROR_LOG_LEVEL ?? 'warn', 2) });
  } finally {
    store.close();
  }
}

/** What an origin command did: a sentence, or with --json the same facts under the shared field names. */
function report(json: boolean | undefined, facts: Record<string, unknown>, text: string): void {
  if (json) printJson(facts);
  else process.stdout.write(text);
}

const generationFacts = (name: string, g: GenerationRecord): Record<string, unknown> => ({ repository: name, generation: g.id, roles: g.summary.roles, targets: g.summary.targets });

function materialOptions(c: Command, prefix = ''): Command {
  return c
    .option(`--${prefix}fulcio <spec>`, 'a Fulcio CA: FILE (with --fulcio-url) or url=URL,chain=FILE[,start=T][,end=T]; the chain PEM, root last', collect)
    .option(`--${prefix}rekor <spec>`, 'a Rekor log: url=URL,key=FILE[,start=T][,end=T]', collect)
    .option(`--${prefix}ctlog <spec>`, 'a CT log: url=URL,key=FILE[,start=T][,end=T]', collect)
    .option(`--${prefix}tsa <spec>`, 'a timestamp authority: url=URL,chain=FILE[,start=T][,end=T]', collect)
    .option(`--${prefix}oidc-issuer <url>`, 'an OIDC issuer for the signing config', collect);
}

/** `tuf-mirror origin …`: create and keep alive a TUF repository for a private Sigstore instance. */
export function registerOrigin(program: Command): void {
  const origin = program.command('origin').description('a signed TUF repository for your own Sigstore instance (repository kind: origin)');

  materialOptions(
    origin
      .command('init')
      .description('create keys, trusted_root.json, signing_config.v0.2.json, legacy targets and TUF metadata v1')
      .argument('<name>', 'the repository (kind: origin in the configuration)'),
  )
    .option('--fulcio-url <url>', 'URL of the Fulcio given as a bare FILE')
    .option('--start-time <time>', 'start of every validity window not given (default: now)')
    .option('--operator <name>', 'operator named in the signing config (default: the repository name)')
    .option('--key-type <type>', 'ecdsa (P-256, default) or ed25519', 'ecdsa')
    .option('--root-keys <n>', 'number of root keys', '1')
    .option('--root-threshold <n>', 'root threshold', '1')
    .option('--targets-keys <n>', 'number of targets keys', '1')
    .option('--targets-threshold <n>', 'targets threshold', '1')
    .option('--json', 'print what was created as JSON')
    .action(async (name: string, o: MaterialOptions & Record<string, string>, cmd: Command) => {
      await withOrigin(cmd, name, async (ctx) => {
        const now = new Date();
        const m = material(o, now) as TrustMaterial;
        if (!m.certificateAuthorities.length && !m.tlogs.length) throw new OriginError('BAD_INPUT', 'give at least a --fulcio or a --rekor');
        const n = (v: string, what: string) => {
          const x = Number(v);
          if (!Number.isInteger(x) || x < 1) throw new OriginError('BAD_INPUT', `${what}: "${v}" is not a positive whole number`);
          return x;
        };
        const keys = {
          root: { count: n(o.rootKeys, '--root-keys'), threshold: n(o.rootThreshold, '--root-threshold') },
          targets: { count: n(o.targetsKeys, '--targets-keys'), threshold: n(o.targetsThreshold, '--targets-threshold') },
          snapshot: { count: 1, threshold: 1 },
          timestamp: { count: 1, threshold: 1 },
        };
        const r = await initOrigin(ctx, { material: m, operator: o.operator ?? name, keyType: o.keyType as KeyType, keys, now });
        report(
          cmd.opts<{ json?: boolean }>().json,
          { ...generationFacts(name, r.generation), anchor: r.anchor, keys: r.keyFiles },
          [
            `${name}: generation ${r.generation.id} (root v1, targets v1, snapshot v1, timestamp v1); targets: ${r.generation.summary.targets.join(', ')}`,
            `trust anchor (give it to clients): ${r.anchor}`,
            'keys (owner-only); move the root-* and targets-* ones offline, the service needs only timestamp-* and snapshot-*:',
            ...r.keyFiles.map((f) => `  ${f}`),
            '',
          ].join('\n'),
        );
      });
    });

  materialOptions(origin.command('update-keys').description('add, rotate or retire Fulcio/Rekor/CT/TSA entries and publish new targets').argument('<name>'), 'add-')
    .option('--retire <spec>', 'give an entry an end date: KIND=URL[,end=T] with KIND fulcio, rekor, ctlog or tsa (default end: now)', collect)
    .option('--fulcio-url <url>', 'URL of a Fulcio given as a bare FILE')
    .option('--start-time <time>', 'start of every new validity window not given (default: now)')
    .option('--operator <name>', 'operator named in the signing config (default: the repository name)')
    .option('--keys-dir <dir>', 'where the (offline) targets keys are, if not in the configured keysDir')
    .option('--json', 'print the new generation as JSON')
    .action(async (name: string, o: Record<string, string[] | string | boolean | undefined>, cmd: Command) => {
      await withOrigin(cmd, name, async (ctx) => {
        const now = new Date();
        const add = material(
          { fulcio: o.addFulcio as string[], fulcioUrl: o.fulcioUrl as string, rekor: o.addRekor as string[], ctlog: o.addCtlog as string[], tsa: o.addTsa as string[], oidcIssuer: o.addOidcIssuer as string[], startTime: o.startTime as string },
          now,
        );
        const kinds = { fulcio: 'certificateAuthorities', rekor: 'tlogs', ctlog: 'ctlogs', tsa: 'timestampAuthorities' } as const;
        const retire = ((o.retire as string[] | undefined) ?? []).map((spec) => {
          const [head, ...rest] = spec.split(',');
          const [kind, url] = [head.slice(0, head.indexOf('=')), head.slice(head.indexOf('=') + 1)];
          if (!(kind in kinds) || !url) throw new OriginError('BAD_INPUT', `--retire ${spec}: expected KIND=URL with KIND one of ${Object.keys(kinds).join(', ')}`);
          const f = fields(rest.join(',') || 'end=' + now.toISOString(), '--retire', ['end']);
          return { kind: kinds[kind as keyof typeof kinds], url, end: time(f.end, '--retire end', now.toISOString()) };
        });
        const r = await updateOriginKeys(ctx, { add, retire, operator: (o.operator as string) ?? name, keysDir: (o.keysDir as string) ?? ctx.repository.origin!.keysDir, now });
        report(o.json === true, generationFacts(name, r.generation), `${name}: generation ${r.generation.id} (targets v${r.generation.targetsVersion}); targets: ${r.generation.summary.targets.join(', ')}\n`);
      });
    });

  origin
    .command('resign')
    .description("re-sign timestamp (and snapshot when due) with the online key now; the service does this on origin.resignSchedule")
    .argument('<name>')
    .option('--json', 'print the new generation as JSON')
    .action(async (name: string, o: { json?: boolean }, cmd: Command) => {
      await withOrigin(cmd, name, async (ctx) => {
        const g = (await resignOrigin(ctx, { force: true }))!;
        report(o.json, generationFacts(name, g), `${name}: generation ${g.id} (timestamp v${g.timestampVersion}, snapshot v${g.snapshotVersion})\n`);
      });
    });

  origin
    .command('rotate-root')
    .description('make root N+1 with new keys / thresholds, signed by every key at hand; publish it if both thresholds are met')
    .argument('<name>')
    .option('--replace <roles>', `roles whose keys are all replaced, comma-separated (${TOP_ROLES.join(', ')})`, '')
    .option('--threshold <role=n>', 'a new threshold, e.g. root=2 (repeatable)', collect)
    .option('--keys-dir <dir>', 'where the current keys are and the new ones go (default: the configured keysDir)')
    .option('--key-type <type>', 'type of new keys: ecdsa or ed25519', 'ecdsa')
    .option('--out <file>', 'write the pending root here for offline signers instead of publishing')
    .option('--pending-file <file>', 'where the pending root goes when the keys at hand cannot meet both thresholds (default: <keys-dir>/<name>-root-v<N>.pending.json)')
    .option('--json', 'print the outcome as JSON')
    .action(async (name: string, o: { replace: string; threshold?: string[]; keysDir?: string; keyType: string; out?: string; pendingFile?: string; json?: boolean }, cmd: Command) => {
      await withOrigin(cmd, name, async (ctx) => {
        const replace = o.replace ? (o.replace.split(',') as TopRole[]) : [];
        for (const r of replace) if (!TOP_ROLES.includes(r)) throw new OriginError('BAD_INPUT', `--replace: unknown role ${r}`);
        const thresholds: Partial<Record<TopRole, number>> = {};
        for (const t of o.threshold ?? []) {
          const [role, n] = t.split('=');
          if (!TOP_ROLES.includes(role as TopRole) || !(Number(n) >= 1)) throw new OriginError('BAD_INPUT', `--threshold ${t}: expected ROLE=N`);
          thresholds[role as TopRole] = Number(n);
        }
        const keysDir = o.keysDir ?? ctx.repository.origin!.keysDir;
        const { pending, newKeyFiles, signatures } = prepareRootRotation(ctx, { replace, thresholds, keysDir, keyType: o.keyType as KeyType });
        const version = pending.signed.version;
        if (!o.json) for (const f of newKeyFiles) process.stdout.write(`new key: ${f}\n`);
        if (o.out) {
          const out = path.resolve(o.out);
          writePending(out, serialize(pending));
          report(
            o.json,
            { repository: name, published: false, version, signatures, pending: out, newKeys: newKeyFiles },
            `root v${version} with ${signatures} signature(s) written to ${out}: add signatures with tuf-mirror origin sign ${out} --key KEY, then tuf-mirror origin publish ${name} ${out}\n`,
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
          throw new OriginError('THRESHOLD_NOT_MET', `${err.message}\n  the pending root is in ${file}: collect signatures with tuf-mirror origin sign ${file} --key KEY, then tuf-mirror origin publish ${name} ${file}`);
        }
      });
    });

  origin
    .command('sign')
    .description('add the signature of one key (an offline signer) to a pending root file')
    .argument('<file>', 'the pending root')
    .requiredOption('--key <file>', 'the private key (PEM)')
    .option('--json', 'print the outcome as JSON')
    .action((file: string, o: { key: string; json?: boolean }) => {
      const r = signPendingRoot(file, o.key);
      report(o.json, { pending: path.resolve(file), keyId: r.keyID, signatures: r.signatures }, `signed by ${r.keyID}; ${r.signatures} signature(s) now\n`);
    });

  origin
    .command('publish')
    .description('check the thresholds of root N and N+1 on a pending root and publish it')
    .argument('<name>')
    .argument('<file>', 'the pending root')
    .option('--keys-dir <dir>', 'where the keys for re-signing targets/snapshot/timestamp are (default: the configured keysDir)')
    .option('--json', 'print the new generation as JSON')
    .action(async (name: string, file: string, o: { keysDir?: string; json?: boolean }, cmd: Command) => {
      await withOrigin(cmd, name, async (ctx) => {
        const g = await publishPendingRoot(ctx, readPendingRoot(file), o.keysDir ?? ctx.repository.origin!.keysDir);
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
    throw new OriginError('BAD_INPUT', `cannot write the pending root to ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)} (give another place with --pending-file or --out)`);
  }
}
