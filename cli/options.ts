import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig, type Config, type ConfigOverrides } from '../config/config';

/** Exit codes a script or a CronJob can act on. */
export const EXIT = { ok: 0, failed: 1, usage: 2, config: 3 } as const;

type GlobalOptions = { config?: string; dataDir?: string; host?: string; port?: number };

export function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number (0-65535)');
  return n;
}

/** The config a command runs with: --config (or TUF_MIRROR_CONFIG) with its flags applied. */
export function configFrom(cmd: Command): Config {
  const o = cmd.optsWithGlobals<GlobalOptions>();
  const overrides: ConfigOverrides = { dataDir: o.dataDir, host: o.host, port: o.port };
  return loadConfig(o.config ?? process.env.TUF_MIRROR_CONFIG, overrides);
}
