import { TufMirrorError } from '../lib/errors';

/** What is wrong with the configuration or the deployment it describes (exit code 3 in the CLI). */
export type ConfigErrorCode =
  | 'INVALID_CONFIG' // the file does not validate
  | 'CONFIG_UNREADABLE' // no such file, or not YAML
  | 'UNKNOWN_REPOSITORY' // a name the configuration does not have
  | 'TLS_INVALID' // server.tls files missing, unreadable, or not a matching certificate and key
  | 'DATA_DIR_NOT_WRITABLE'
  | 'CANNOT_LISTEN'; // the port is in use or privileged, or the host is not an address of this machine

export class ConfigError extends TufMirrorError<ConfigErrorCode> {}
