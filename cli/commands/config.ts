import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import YAML from 'yaml';
import { ConfigError, type Config } from '../../config/config';
import { redactUrl } from '../../lib/log';
import { loadTls } from '../../server/tls';
import { configFrom, EXIT } from '../options';
import { printJson } from '../report';
import { systemCode } from '../../lib/errors';

/** Field names whose values are secrets wherever they appear (the admin token, webhook headers, registry passwords). */
const SECRET_KEYS = /^(adminToken|reportToken|password|token|secret|headers|authorization)$/i;
export const REDACTED = '<redacted>';

/** The settings with every secret replaced and credentials stripped from URLs, fit to print or log. */
export function redactSecrets(value: unknown, key = ''): unknown {
  if (SECRET_KEYS.test(key) && value !== undefined) {
    return value !== null && typeof value === 'object' ? Object.fromEntries(Object.keys(value).map((k) => [k, REDACTED])) : REDACTED;
  }
  if (typeof value === 'string') return /^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(value) ? redactUrl(value) : value;
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactSecrets(v, k)]));
  return value;
}

/**
 * What `serve` would refuse at start, checked without starting: the TLS pair, and a data dir
 * this user can create or write. (Schema, anchors and names were checked by loading.)
 */
export function checkDeployment(config: Config): void {
  if (config.server.tls) loadTls(config.server.tls);
  let dir = config.dataDir;
  while (!fs.existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  const problem = ((): string | undefined => {
    if (!fs.statSync(dir).isDirectory()) return 'ENOTDIR';
    try {
      fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
      return undefined;
    } catch (err) {
      return systemCode(err) ?? 'EACCES';
    }
  })();
  if (problem)
    throw new ConfigError(
      'DATA_DIR_NOT_WRITABLE',
      `data dir ${config.dataDir} is not writable (${problem} at ${dir}): make it writable for this user, or give another with --data-dir, TUF_MIRROR_DATA_DIR or dataDir`,
    );
}

/** `tuf-mirror config check`: is this configuration one `serve` would start with, and what does it amount to. */
export function registerConfig(program: Command): void {
  const config = program.command('config').description('check a configuration');
  config
    .command('check')
    .description('validate the configuration (--config, TUF_MIRROR_CONFIG or the embedded default) and print the effective settings, secrets redacted')
    .option('--json', 'print the settings as JSON instead of YAML')
    .action((opts: { json?: boolean }, cmd: Command) => {
      const loaded = configFrom(cmd);
      checkDeployment(loaded);
      const { origin, ...settings } = loaded;
      const effective = redactSecrets(settings);
      if (opts.json) printJson({ source: origin, valid: true, config: effective });
      else process.stdout.write(`# ${origin}: valid; effective settings (defaults filled in, paths absolute, secrets redacted)\n${YAML.stringify(effective)}`);
      process.exitCode = EXIT.ok;
    });
}
