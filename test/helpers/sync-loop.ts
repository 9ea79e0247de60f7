/**
 * Child process for the crash test: syncs one repository back to back until killed.
 * usage: node sync-loop.js <config.yaml>
 */
import { loadConfig } from '../../config/config';
import { silentLogger } from '../../lib/log';
import { Store } from '../../store/store';
import { syncRepository } from '../../sync/sync';

async function main(): Promise<void> {
  if (!process.argv[2]) throw new Error('usage: sync-loop.js <config.yaml>');
  const config = loadConfig(process.argv[2]);
  const store = Store.open(config.dataDir);
  for (;;) {
    const result = await syncRepository({ store, repository: config.repositories[0], logger: silentLogger, lockStaleMs: 400, keptGenerations: 3 });
    process.stdout.write(`${result.outcome}${result.outcome === 'failed' ? ` ${result.error.code}` : ` ${result.generation.id}`}\n`);
  }
}

void main();
