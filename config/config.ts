import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import cron from 'node-cron';
import { z } from 'zod';
import { envValue } from '../lib/env';
import { systemCode } from '../lib/errors';
import { packageRoot } from '../lib/paths';
import { RESERVED_NAMES } from '../lib/routes';
import { verifierConfigSchema } from './verifier';
import { ConfigError } from './errors';

/** `90`, `90s`, `45m`, `12h`, `5d` → seconds. */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') return value;
  const m = /^(\d+(?:\.\d+)?)\s*([smhd]?)$/.exec(value.trim());
  if (!m) return NaN;
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}

const duration = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx) => {
  const seconds = parseDuration(v);
  if (Number.isNaN(seconds)) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration (e.g. 90s, 45m, 12h, 5d)` });
    return z.NEVER;
  }
  return seconds;
});

const cronExpression = z.string().refine((e) => cron.validate(e), { error: 'is not a cron expression (e.g. "*/30 * * * *")' });

/**
 * Warn when less than `warning` is left, page when less than `critical`; for `sync` the other
 * way round: warn when more than `warning` has passed since the last success.
 */
const threshold = z.strictObject({ warning: duration, critical: duration });
/** Thresholds on time passed (since a sync, a cluster's report, a cluster in sync), not time left. */
export const SINCE_THRESHOLDS = new Set(['sync', 'clusterReport', 'clusterLag']);
const thresholds = z.record(z.string(), threshold).superRefine((record, ctx) => {
  for (const [name, t] of Object.entries(record)) {
    const since = SINCE_THRESHOLDS.has(name);
    if (since ? t.critical < t.warning : t.critical > t.warning) {
      ctx.addIssue({
        code: 'custom',
        path: [name],
        message: !since
          ? 'critical must not be longer than warning'
          : `critical (time since ${name === 'sync' ? 'the last success' : name === 'clusterReport' ? 'the last report' : 'the last time in sync'}) must not be shorter than warning`,
      });
    }
  }
});
export type Threshold = z.output<typeof threshold>;

const signingFields = {
  /** Key files (`<role>-<n>.pem`, owner-only); the service reads only the online ones (timestamp, snapshot). */
  keysDir: z.string().min(1).optional(),
  timestampExpiry: duration.default(7 * 86400),
  snapshotExpiry: duration.default(365 * 86400),
  targetsExpiry: duration.default(365 * 86400),
  rootExpiry: duration.default(182 * 86400),
  /** When the online key re-signs timestamp (and snapshot when it nears expiry). Default daily. */
  resignSchedule: cronExpression.default('0 3 * * *'),
};
const originSchema = z.strictObject(signingFields);

/**
 * A bridge re-signs what a verified generation of `source` resolves to with the site's keys. Its
 * timestamp must outlive the time between two transfers across the gap, so there is no default:
 * the operator names the cadence.
 */
const bridgeSchema = z
  .strictObject({
    ...signingFields,
    /** The mirrored repository (of this configuration) whose verified generations are bridged. */
    source: z.string().min(1),
    /** auto: promote every candidate that passes the compatibility gate; manual: `tuf-mirror bridge promote`. */
    promote: z.enum(['auto', 'manual']).default('auto'),
    timestampExpiry: duration.refine((s) => s >= 86400, { error: 'must be at least 1d (longer than the time between two transfers)' }),
    rootExpiry: duration.default(365 * 86400),
  })
  .refine((b) => b.snapshotExpiry > b.timestampExpiry && b.targetsExpiry > b.timestampExpiry, {
    error: 'snapshotExpiry and targetsExpiry must be longer than timestampExpiry',
    path: ['timestampExpiry'],
  });

const repositorySchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9-]+$/, 'must match [a-z0-9-]+ (it is used in URLs)')
      .max(63)
      .refine((n) => !RESERVED_NAMES.has(n), { error: `is reserved (${[...RESERVED_NAMES].join(', ')})` }),
    /**
     * mirror (default): sync and verify `upstream`. origin: a repository this service signs
     * (`tuf-mirror origin`). bridge: the verified targets of another repository, re-signed here.
     */
    kind: z.enum(['mirror', 'origin', 'bridge']).default('mirror'),
    upstream: z
      .string()
      .check(z.url('must be an absolute http(s) URL'))
      .refine((u) => /^https?:\/\//.test(u), { error: 'must be an http:// or https:// URL' })
      .optional(),
    /** A pinned root.json; for an origin, defaults to the root v1 `origin init` wrote. */
    trustAnchor: z.string().min(1, 'must name a root.json file').optional(),
    default: z.boolean().optional(),
    /** When to refresh (cron, in the server's time zone); default: sync.schedule. */
    schedule: cronExpression.optional(),
    /** Per-role (or trustedRoot / sync) thresholds over alerts.thresholds, for this repository. */
    thresholds: thresholds.optional(),
    /** For kind origin: where its keys live and how long what it signs stays valid. */
    origin: originSchema.optional(),
    /** For kind bridge: its source, promotion, keys and validity periods. */
    bridge: bridgeSchema.optional(),
  })
  .refine((r) => r.kind !== 'mirror' || r.upstream !== undefined, { error: 'a mirror needs an upstream', path: ['upstream'] })
  .refine((r) => r.kind !== 'origin' || r.upstream === undefined, { error: 'an origin has no upstream: it is signed here', path: ['upstream'] })
  .refine((r) => r.kind !== 'bridge' || r.upstream === undefined, { error: 'a bridge has no upstream: it re-signs its bridge.source', path: ['upstream'] })
  .refine((r) => r.kind === 'origin' || r.origin === undefined, { error: 'only for kind: origin', path: ['origin'] })
  .refine((r) => (r.kind === 'bridge') === (r.bridge !== undefined), { error: 'kind: bridge needs a bridge block (source, timestampExpiry), and only it has one', path: ['bridge'] })
  .refine((r) => r.kind !== 'mirror' || r.trustAnchor !== undefined, { error: 'a mirror needs a trustAnchor (a pinned root.json)', path: ['trustAnchor'] });

const configSchema = z.strictObject({
  dataDir: z.string().min(1).default('./data'),
  server: z
    .strictObject({
      host: z.string().min(1).default('0.0.0.0'),
      port: z.number().int().min(0).max(65535).default(8080),
      /**
       * Serve HTTPS with this certificate and key (PEM files). Kubernetes calls admission webhooks
       * over HTTPS only; TUF clients work over either.
       */
      tls: z.strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
      /** How clients reach this mirror (e.g. http://tuf-mirror.tuf-mirror.svc:8080): used in what it hands out. */
      publicUrl: z
        .string()
        .check(z.url('must be an absolute http(s) URL'))
        .refine((u) => /^https?:\/\//.test(u), { error: 'must be an http:// or https:// URL' })
        .optional(),
    })
    .prefault({}),
  /**
   * Bearer token for admin endpoints (sync now, import). TUF_MIRROR_ADMIN_TOKEN wins over the file.
   * Without one, admin endpoints answer 403: disabled, never open.
   */
  adminToken: z.string().min(16, 'must be at least 16 characters').optional(),
  /**
   * Bearer token `tuf-mirror refresh-cluster` jobs report back with (POST …/cluster-reports).
   * TUF_MIRROR_REPORT_TOKEN wins over the file. Without one, reports are refused (403).
   */
  reportToken: z.string().min(16, 'must be at least 16 characters').optional(),
  sync: z
    .strictObject({
      /** Run one sync of every repository when the server starts. */
      onStart: z.boolean().default(true),
      /** Per request to the upstream, headers and body together. */
      requestTimeoutSeconds: z.number().positive().max(600).default(30),
      /** Cap on any one target file; metadata caps come from TUF itself. */
      maxTargetBytes: z
        .number()
        .int()
        .positive()
        .default(64 * 1024 * 1024),
      /**
       * Target files downloaded at once. Memory grows with this times the largest target, never
       * with the repository; a handful keeps one upstream busy without looking like a flood.
       */
      downloadConcurrency: z.number().int().min(1).max(64).default(6),
      /**
       * Delegated roles mirrored at most; a succinct (hash-bin) delegation of more bins is refused
       * whole. Past it, the roles are recorded as not mirrored (TOO_MANY_DELEGATIONS,
       * SUCCINCT_DELEGATION_TOO_LARGE) and the rest commits.
       */
      maxDelegatedRoles: z.number().int().positive().max(1_000_000).default(1024),
      /**
       * Default refresh schedule. Every 30 minutes keeps a mirror of public-good (timestamp
       * re-signed daily, valid 7 days) days ahead of any expiry while costing two requests a run.
       */
      schedule: cronExpression.default('*/30 * * * *'),
      /** Random delay before a scheduled run, so many replicas do not hit the upstream at once. */
      jitterSeconds: z.number().int().min(0).max(3600).default(60),
      /** Retries of a failed scheduled run, with exponential backoff from retryBackoffSeconds. */
      retries: z.number().int().min(0).max(10).default(3),
      retryBackoffSeconds: z.number().positive().max(3600).default(30),
    })
    .prefault({}),
  alerts: z
    .strictObject({
      webhooks: z
        .array(
          z.strictObject({
            url: z.string().check(z.url('must be an absolute http(s) URL')),
            /** generic: one JSON object per event; alertmanager: Alertmanager's POST /api/v2/alerts body. */
            format: z.enum(['generic', 'alertmanager']).default('generic'),
            /** Extra request headers, e.g. an Authorization for the receiver. Never logged. */
            headers: z.record(z.string(), z.string()).optional(),
          }),
        )
        .default([]),
      /**
       * Time-left thresholds by role name (root, timestamp, snapshot, targets, a delegated role's
       * name, or `delegated` for all of them), `trustedRoot` (the keys and CAs inside
       * trusted_root.json) and `sync` (time since the last successful sync); for what
       * refresh-cluster jobs report, `clusterReport` (time since a cluster's last report),
       * `clusterLag` (time since it last held what the mirror serves) and `clusterExpiry` (time
       * left on what it holds).
       */
      thresholds: thresholds.default({}),
      /** How often states are evaluated (expiry moves with the clock, not only with syncs). */
      evaluateEverySeconds: z.number().positive().max(3600).default(60),
    })
    .prefault({}),
  retention: z
    .strictObject({
      /**
       * Versioned files of this many most recent generations stay servable, so a client
       * that read the previous timestamp.json can still fetch the snapshot it names.
       */
      servedGenerations: z.number().int().min(1).max(1000).default(5),
      /** Generations kept in the store for history before they are pruned. */
      keptGenerations: z.number().int().min(1).max(100000).default(100),
    })
    .prefault({}),
  /** `tuf-mirror import` and POST /api/v1/repositories/<name>/import. */
  import: z
    .strictObject({
      /**
       * Cap on an archive, compressed (the upload) and unpacked alike: 413 / RESPONSE_TOO_LARGE
       * beyond. An import holds up to ~10x this in memory: 16 MiB fits deploy/kubernetes' 192 MB
       * heap (public-good's archive is ~0.1 MiB).
       */
      maxBytes: z
        .number()
        .int()
        .positive()
        .default(16 * 1024 * 1024),
    })
    .prefault({}),
  repositories: z.array(repositorySchema).min(1, 'needs at least one repository'),
  /** Image and bundle verification (config/verifier.ts). */
  verifier: verifierConfigSchema,
});

/** How a repository signed here (an origin or a bridge) signs: its keys and validity periods. */
export type OriginConfig = {
  /** Absolute path of the key files. */
  keysDir: string;
  /** Validity periods, in seconds, of what the origin signs. */
  timestampExpiry: number;
  snapshotExpiry: number;
  targetsExpiry: number;
  rootExpiry: number;
  resignSchedule: string;
};

export type BridgeConfig = {
  /** The mirrored repository whose verified generations this bridge re-signs. */
  source: string;
  promote: 'auto' | 'manual';
};

export type RepositoryConfig = {
  name: string;
  kind?: 'mirror' | 'origin' | 'bridge';
  /** The upstream URL; `origin` for an origin repository, `bridge:<source>` for a bridge. */
  upstream: string;
  /** Absolute path of the pinned root.json. */
  trustAnchor: string;
  default: boolean;
  /** Cron expression of scheduled refreshes. */
  schedule?: string;
  thresholds?: Record<string, Threshold>;
  /** Signing settings of a repository signed here: set for kind origin and kind bridge. */
  origin?: OriginConfig;
  bridge?: BridgeConfig;
};

/** Origins and bridges are signed by this service: never synced from an upstream, never imported into. */
export const isSignedHere = (r: Pick<RepositoryConfig, 'kind'>): boolean => r.kind === 'origin' || r.kind === 'bridge';

export type Config = Omit<z.output<typeof configSchema>, 'repositories'> & {
  repositories: RepositoryConfig[];
  /** Where the configuration came from: a file path or "embedded default". */
  origin: string;
};

/** Values given on the command line; each wins over the file. */
export type ConfigOverrides = { host?: string; port?: number; dataDir?: string };

export { ConfigError, type ConfigErrorCode } from './errors';

export const EMBEDDED_ANCHOR = (): string => path.join(packageRoot(), 'config', 'anchors', 'sigstore-public-good.root.json');

/** No config file at all: mirror the public-good instance, anchored on the root shipped with us. */
export function embeddedDefault(): unknown {
  return {
    dataDir: './data',
    repositories: [{ name: 'sigstore', upstream: 'https://tuf-repo-cdn.sigstore.dev', trustAnchor: EMBEDDED_ANCHOR(), default: true }],
  };
}

/**
 * Validate a parsed config. Relative paths in a file are relative to that file's folder,
 * so a config and its trust anchors can move together; flags are relative to the cwd.
 */
export function parseConfig(raw: unknown, origin: string, baseDir: string, overrides: ConfigOverrides = {}): Config {
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `  ${formatPath(issue.path) || '(top level)'}: ${issue.message}`);
    throw new ConfigError('INVALID_CONFIG', `invalid configuration in ${origin}:\n${lines.join('\n')}`);
  }
  const parsed = result.data;

  const names = new Set<string>();
  parsed.repositories.forEach((r, i) => {
    if (names.has(r.name)) throw new ConfigError('INVALID_CONFIG', `invalid configuration in ${origin}:\n  repositories[${i}].name: "${r.name}" is used twice`);
    names.add(r.name);
  });
  const defaults = parsed.repositories.filter((r) => r.default);
  if (defaults.length > 1) {
    throw new ConfigError('INVALID_CONFIG', `invalid configuration in ${origin}:\n  repositories: only one may be default (${defaults.map((r) => r.name).join(', ')})`);
  }
  // A lone repository is the default one: `cosign initialize --mirror http://host:8080` just works.
  const defaultName = defaults[0]?.name ?? (parsed.repositories.length === 1 ? parsed.repositories[0].name : undefined);

  const dataDir = overrides.dataDir ? path.resolve(overrides.dataDir) : path.resolve(baseDir, parsed.dataDir);
  parsed.repositories.forEach((r, i) => {
    const wanted = r.bridge?.source;
    if (wanted === undefined) return;
    const source = parsed.repositories.find((s) => s.name === wanted);
    if (source?.kind !== 'mirror') {
      throw new ConfigError('INVALID_CONFIG', `invalid configuration in ${origin}:\n  repositories[${i}].bridge.source: "${wanted}" is not a mirror repository of this configuration`);
    }
  });
  const repositories = parsed.repositories.map((r, i) => {
    // A repository signed here has its own root v1 as anchor; `tuf-mirror origin|bridge init` writes it.
    const home = path.join(dataDir, r.kind, r.name);
    const trustAnchor = r.trustAnchor ? path.resolve(baseDir, r.trustAnchor) : path.join(home, '1.root.json');
    if (r.kind === 'mirror' && !fs.existsSync(trustAnchor)) {
      throw new ConfigError('INVALID_CONFIG', `invalid configuration in ${origin}:\n  repositories[${i}].trustAnchor: no such file ${trustAnchor}`);
    }
    const settings = r.kind === 'origin' ? originSchema.parse(r.origin ?? {}) : r.bridge;
    return {
      name: r.name,
      kind: r.kind,
      upstream: r.upstream?.replace(/\/+$/, '') ?? (r.bridge ? `bridge:${r.bridge.source}` : 'origin'),
      origin: settings && {
        keysDir: settings.keysDir ? path.resolve(baseDir, settings.keysDir) : path.join(home, 'keys'),
        timestampExpiry: settings.timestampExpiry,
        snapshotExpiry: settings.snapshotExpiry,
        targetsExpiry: settings.targetsExpiry,
        rootExpiry: settings.rootExpiry,
        resignSchedule: settings.resignSchedule,
      },
      bridge: r.bridge && { source: r.bridge.source, promote: r.bridge.promote },
      trustAnchor,
      default: r.name === defaultName,
      schedule: r.schedule ?? parsed.sync.schedule,
      thresholds: r.thresholds,
    };
  });

  const adminToken = envValue('TUF_MIRROR_ADMIN_TOKEN') ?? parsed.adminToken;
  if (adminToken !== undefined && adminToken.length < 16) {
    throw new ConfigError('INVALID_CONFIG', `invalid configuration in ${origin}:\n  TUF_MIRROR_ADMIN_TOKEN: must be at least 16 characters`);
  }
  const reportToken = envValue('TUF_MIRROR_REPORT_TOKEN') ?? parsed.reportToken;
  if (reportToken !== undefined && reportToken.length < 16) {
    throw new ConfigError('INVALID_CONFIG', `invalid configuration in ${origin}:\n  TUF_MIRROR_REPORT_TOKEN: must be at least 16 characters`);
  }
  const verifyToken = envValue('TUF_MIRROR_VERIFY_TOKEN') ?? parsed.verifier.token;
  if (verifyToken !== undefined && verifyToken.length < 16) {
    throw new ConfigError('INVALID_CONFIG', `invalid configuration in ${origin}:\n  TUF_MIRROR_VERIFY_TOKEN: must be at least 16 characters`);
  }
  const listen = parsed.verifier.listen;
  const tlsOf = (t: { certFile: string; keyFile: string }) => ({ certFile: path.resolve(baseDir, t.certFile), keyFile: path.resolve(baseDir, t.keyFile) });
  return {
    ...parsed,
    adminToken,
    reportToken,
    verifier: { ...parsed.verifier, token: verifyToken, ...(listen ? { listen: { ...listen, ...(listen.tls ? { tls: tlsOf(listen.tls) } : {}) } } : {}) },
    dataDir,
    server: {
      ...parsed.server,
      ...(parsed.server.tls ? { tls: tlsOf(parsed.server.tls) } : {}),
      host: overrides.host ?? parsed.server.host,
      port: overrides.port ?? parsed.server.port,
    },
    repositories,
    origin,
  };
}

/** The config file named by --config, else TUF_MIRROR_CONFIG, else the embedded default. */
export function loadConfig(file: string | undefined = process.env.TUF_MIRROR_CONFIG, overrides: ConfigOverrides = {}): Config {
  if (!file) return parseConfig(embeddedDefault(), 'embedded default', process.cwd(), overrides);
  const abs = path.resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(abs, 'utf8');
  } catch (err) {
    const code = systemCode(err) ?? String(err);
    throw new ConfigError('CONFIG_UNREADABLE', `cannot read configuration ${abs} (${code}): give an existing file with --config or TUF_MIRROR_CONFIG`);
  }
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (err) {
    throw new ConfigError('CONFIG_UNREADABLE', `configuration ${abs} is not valid YAML: ${(err as Error).message}`);
  }
  return parseConfig(raw, abs, path.dirname(abs), overrides);
}

/** `repositories[0].bridge.source`: where a zod issue is, as messages name it. */
export function formatPath(p: readonly PropertyKey[]): string {
  return p.map((seg, i) => (typeof seg === 'number' ? `[${seg}]` : i === 0 ? String(seg) : `.${String(seg)}`)).join('');
}
