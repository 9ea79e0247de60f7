import type { Command } from 'commander';
import { configFrom, EXIT } from '../options';
import { createLogger } from '../../lib/log';
import { startService } from '../../server/service';
import { parsePort } from '../options';

/** `tuf-mirror serve`: the long-running service. */
export function registerServe(program: Command): void {
  program
    .command('serve', { isDefault: true })
    .description('serve the held repositories over HTTP and keep them in sync')
    .option('--host <host>', 'address to listen on (overrides server.host)')
    .option('-p, --port <port>', 'port to listen on (overrides server.port)', parsePort)
    .action(async (_opts, cmd: Command) => {
      const config = configFrom(cmd);
      const logger = createLogger();
      const service = await startService(config, logger);
      const stop = (signal: string): void => {
        logger.info({ signal }, 'shutting down');
        service.close().then(
          () => process.exit(EXIT.ok),
          () => process.exit(EXIT.failed),
        );
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
