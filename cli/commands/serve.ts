import type { Command } from 'commander';
import { configFrom, EXIT, parsePort } from '../options';
import { createLogger } from '../../lib/log';
import { startService, type Service } from '../../server/service';

/** `tuf-mirror serve`: the long-running service. */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve the held repositories over HTTP and keep them in sync')
    .option('--host <host>', 'address to listen on (overrides server.host)')
    .option('-p, --port <port>', 'port to listen on (overrides server.port)', parsePort)
    .action(async (_opts, cmd: Command) => {
      const config = configFrom(cmd);
      const logger = createLogger();
      let service: Service | undefined;
      // A property, not a local: stop() sets it while startService is awaited, behind the
      // back of the narrowing a local `let` would get.
      const shutdown = { requested: false };
      const stop = (signal: string): void => {
        if (shutdown.requested) return;
        shutdown.requested = true;
        logger.info({ signal }, 'shutting down');
        if (!service) return; // still starting: stopped as soon as it has started
        service.close().then(
          () => process.exit(EXIT.ok),
          () => process.exit(EXIT.failed),
        );
      };
      // Before starting: a signal in the first milliseconds must stop it cleanly, not kill it.
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      // A port in use, a data dir or TLS files that cannot be used: a ConfigError, exit 3.
      service = await startService(config, logger);
      if (shutdown.requested) {
        shutdown.requested = false;
        stop('during start-up');
      }
    });
}
