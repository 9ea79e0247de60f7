import type { Command } from 'commander';
import * as fs from 'node:fs';
import { OriginError } from '../../origin/errors';
import { initOrigin, updateOriginKeys } from '../../origin/origin';
import type { AuthoritySpec, LogSpec, TrustMaterial, Validity } from '../../origin/trust-material';
import { generationFacts, initialized, initializedFacts, keyCountOptions, keyOptionsOf, registerKeyRoutines, report, withSigned, type KeyCountFlags } from './signing';
import { systemCode } from '../../lib/errors';

/** `url=https://rekor.local,key=rekor.pub,start=2026-01-01T00:00:00Z` → fields; a bare value is `file`. */
function fields(spec: string, option: string, allowed: string[]): Partial<Record<string, string>> {
  const out: Partial<Record<string, string>> = {};
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
    throw new OriginError('BAD_INPUT', `${option}: cannot read ${file}: ${systemCode(err) ?? String(err)}`);
  }
}

function validity(f: Partial<Record<string, string>>, option: string, start: string): Validity {
  const v: Validity = { start: time(f.start, `${option} start`, start) };
  if (f.end) v.end = time(f.end, `${option} end`, '');
  return v;
}

const authority =
  (option: string, keyField: string, defaultUrl?: string) =>
  (spec: string, start: string): AuthoritySpec => {
    const f = fields(spec, option, ['file', 'url', keyField, 'start', 'end']);
    const url = f.url ?? defaultUrl;
    if (!url) throw new OriginError('BAD_INPUT', `${option} ${spec}: url= is required`);
    return { url, chainPem: readFile(f[keyField] ?? f.file, option), validFor: validity(f, option, start) };
  };
const log =
  (option: string) =>
  (spec: string, start: string): LogSpec => {
    const f = fields(spec, option, ['url', 'key', 'start', 'end']);
    if (!f.url) throw new OriginError('BAD_INPUT', `${option} ${spec}: url= is required`);
    return { url: f.url, keyPem: readFile(f.key, option), validFor: validity(f, option, start) };
  };

type MaterialOptions = { fulcio?: string[]; fulcioUrl?: string; rekor?: string[]; ctlog?: string[]; tsa?: string[]; oidcIssuer?: string[]; startTime?: string };

function material(o: MaterialOptions, now: Date): TrustMaterial {
  const start = time(o.startTime, '--start-time', now.toISOString().replace(/\.\d{3}Z$/, 'Z'));
  return {
    certificateAuthorities: (o.fulcio ?? []).map((s) => authority('--fulcio', 'chain', o.fulcioUrl)(s, start)),
    tlogs: (o.rekor ?? []).map((s) => log('--rekor')(s, start)),
    ctlogs: (o.ctlog ?? []).map((s) => log('--ctlog')(s, start)),
    timestampAuthorities: (o.tsa ?? []).map((s) => authority('--tsa', 'chain')(s, start)),
    oidcIssuers: (o.oidcIssuer ?? []).map((url) => ({ url, validFor: { start } })),
  };
}

type UpdateKeysOptions = {
  addFulcio?: string[];
  fulcioUrl?: string;
  addRekor?: string[];
  addCtlog?: string[];
  addTsa?: string[];
  addOidcIssuer?: string[];
  startTime?: string;
  retire?: string[];
  operator?: string;
  keysDir?: string;
  json?: boolean;
};

/** What `--retire KIND=URL` may name, and the trust material list each kind is in. */
const RETIRABLE = { fulcio: 'certificateAuthorities', rekor: 'tlogs', ctlog: 'ctlogs', tsa: 'timestampAuthorities' } as const;
const isRetirable = (kind: string): kind is keyof typeof RETIRABLE => Object.hasOwn(RETIRABLE, kind);

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

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

  keyCountOptions(
    materialOptions(
      origin
        .command('init')
        .description('create keys, trusted_root.json, signing_config.v0.2.json, legacy targets and TUF metadata v1')
        .argument('<name>', 'the repository (kind: origin in the configuration)'),
    )
      .option('--fulcio-url <url>', 'URL of the Fulcio given as a bare FILE')
      .option('--start-time <time>', 'start of every validity window not given (default: now)')
      .option('--operator <name>', 'operator named in the signing config (default: the repository name)')
      .option('--json', 'print what was created as JSON'),
  ).action(async (name: string, o: MaterialOptions & KeyCountFlags & { operator?: string; json?: boolean }, cmd: Command) => {
    await withSigned(cmd, 'origin', name, async (ctx) => {
      const now = new Date();
      const m = material(o, now);
      if (!m.certificateAuthorities.length && !m.tlogs.length) throw new OriginError('BAD_INPUT', 'give at least a --fulcio or a --rekor');
      const r = await initOrigin(ctx, { material: m, operator: o.operator ?? name, ...keyOptionsOf(o, now) });
      report(o.json, initializedFacts(name, r), initialized(name, r));
    });
  });

  materialOptions(origin.command('update-keys').description('add, rotate or retire Fulcio/Rekor/CT/TSA entries and publish new targets').argument('<name>'), 'add-')
    .option('--retire <spec>', 'give an entry an end date: KIND=URL[,end=T] with KIND fulcio, rekor, ctlog or tsa (default end: now)', collect)
    .option('--fulcio-url <url>', 'URL of a Fulcio given as a bare FILE')
    .option('--start-time <time>', 'start of every new validity window not given (default: now)')
    .option('--operator <name>', 'operator named in the signing config (default: the repository name)')
    .option('--keys-dir <dir>', 'where the (offline) targets keys are, if not in the configured keysDir')
    .option('--json', 'print the new generation as JSON')
    .action(async (name: string, o: UpdateKeysOptions, cmd: Command) => {
      await withSigned(cmd, 'origin', name, async (ctx) => {
        const now = new Date();
        const add = material({ fulcio: o.addFulcio, fulcioUrl: o.fulcioUrl, rekor: o.addRekor, ctlog: o.addCtlog, tsa: o.addTsa, oidcIssuer: o.addOidcIssuer, startTime: o.startTime }, now);
        const retire = (o.retire ?? []).map((spec) => {
          const [head, ...rest] = spec.split(',');
          const [kind, url] = [head.slice(0, head.indexOf('=')), head.slice(head.indexOf('=') + 1)];
          if (!isRetirable(kind) || !url) throw new OriginError('BAD_INPUT', `--retire ${spec}: expected KIND=URL with KIND one of ${Object.keys(RETIRABLE).join(', ')}`);
          const f = fields(rest.join(',') || 'end=' + now.toISOString(), '--retire', ['end']);
          return { kind: RETIRABLE[kind], url, end: time(f.end, '--retire end', now.toISOString()) };
        });
        const r = await updateOriginKeys(ctx, { add, retire, operator: o.operator ?? name, keysDir: o.keysDir ?? ctx.repository.origin?.keysDir ?? '', now });
        report(
          o.json === true,
          generationFacts(name, r.generation),
          `${name}: generation ${r.generation.id} (targets v${r.generation.targetsVersion}); targets: ${r.generation.summary.targets.join(', ')}\n`,
        );
      });
    });

  registerKeyRoutines(origin, 'origin');
}
