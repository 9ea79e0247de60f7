import { InvalidArgumentError, type Command } from 'commander';
import { ConfigError, loadConfig, type Config, type ConfigOverrides, type RepositoryConfig } from '../config/config';

export { EXIT } from './exit-codes';

type GlobalOptions = { config?: string; dataDir?: string; host?: string; port?: number; quiet?: boolean };

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

/** The repository a command names; an unknown name is a configuration error (exit 3) in every command. */
export function repositoryNamed(config: Config, name: string): RepositoryConfig {
  const repository = config.repositories.find((r) => r.name === name);
  if (!repository) throw unknownRepository(config, [name]);
  return repository;
}

/** The repositories a command names (all when it names none); any unknown name is a configuration error (exit 3). */
export function repositoriesNamed(config: Config, names: string[]): RepositoryConfig[] {
  const unknown = names.filter((n) => !config.repositories.some((r) => r.name === n));
  if (unknown.length) throw unknownRepository(config, unknown);
  return names.length ? config.repositories.filter((r) => names.includes(r.name)) : config.repositories;
}

export function unknownRepository(config: Config, names: string[]): ConfigError {
  const known = config.repositories.map((r) => r.name).join(', ');
  return new ConfigError('UNKNOWN_REPOSITORY', `no repository named ${names.join(', ')} (configured: ${known})`);
}

/** --quiet, from wherever on the command line it was given. */
export function quietFrom(cmd: Command): boolean {
  return cmd.optsWithGlobals<GlobalOptions>().quiet === true;
}
