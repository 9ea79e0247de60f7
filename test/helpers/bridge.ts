/**
 * The two sides of an air gap for tests: a connected service (a mirror of an upstream and a
 * bridge of it) and an in-gap service (a mirror anchored at the bridge's site root, fed only by
 * import). Carrying is the real export → file → import; clients are the real tuf-js Updater and
 * @sigstore/tuf, over real HTTP on 127.0.0.1.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initTUF } from '@sigstore/tuf';
import { Updater } from 'tuf-js';
import { bridgeContext, initBridge, type BridgeContext } from '../../bridge/bridge';
import { parseConfig, type Config, type RepositoryConfig } from '../../config/config';
import { silentLogger } from '../../lib/log';
import type { KeyOptions } from '../../origin/origin';
import type { Service } from '../../server/service';
import { exportGeneration } from '../../sync/export';
import { importArchive, type ImportResult } from '../../sync/import';
import { configuredSyncOptions } from '../../sync/sync';
import { startMirror, tempDir } from './mirror';

export const SOURCE = 'sigstore';
export const SITE = 'sigstore-site';

/** One key per role, threshold 1: what the tests sign with. */
export const TEST_KEYS: KeyOptions = {
  keyType: 'ecdsa',
  keys: { root: { count: 1, threshold: 1 }, targets: { count: 1, threshold: 1 }, snapshot: { count: 1, threshold: 1 }, timestamp: { count: 1, threshold: 1 } },
};

export type Connected = { config: Config; service: Service; source: RepositoryConfig; site: RepositoryConfig; ctx: BridgeContext; dataDir: string };

/** A service with the mirror `sigstore` of `upstream` (anchored at `anchor`) and the bridge `sigstore-site` of it. */
export async function startConnected(upstream: string, anchor: string, bridge: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<Connected> {
  const dataDir = tempDir('tuf-mirror-connected-');
  const config = parseConfig(
    {
      dataDir,
      server: { host: '127.0.0.1', port: 0 },
      sync: { onStart: false },
      repositories: [
        { name: SOURCE, upstream, trustAnchor: anchor, default: true },
        { name: SITE, kind: 'bridge', bridge: { source: SOURCE, ...bridge } },
      ],
      ...extra,
    },
    'connected',
    dataDir,
  );
  const service = await startMirror(config, { evaluateIntervalMs: 3_600_000, webhooks: { attempts: 2, backoffMs: 10 } });
  const [source, site] = config.repositories;
  return { config, service, source, site, ctx: bridgeContext(config, service.store, site, silentLogger), dataDir };
}

/** `tuf-mirror bridge init` with TEST_KEYS, and the served index reloaded. */
export async function initSite(c: Connected) {
  const r = await initBridge(c.ctx, { ...TEST_KEYS, now: new Date() });
  c.service.index.reload();
  return r;
}

export type Gap = { config: Config; service: Service; repository: RepositoryConfig; anchor: string };

/**
 * The in-gap mirror: its only repository is `sigstore-site`, anchored at the site root carried in
 * on media; its upstream does not answer (nothing crosses the gap but archives).
 */
export async function startGap(siteAnchor: string, extra: Record<string, unknown> = {}): Promise<Gap> {
  const dataDir = tempDir('tuf-mirror-gap-');
  const anchor = path.join(dataDir, 'site-root.json');
  fs.copyFileSync(siteAnchor, anchor);
  const config = parseConfig(
    { dataDir, server: { host: '127.0.0.1', port: 0 }, sync: { onStart: false }, repositories: [{ name: SITE, upstream: 'http://127.0.0.1:9', trustAnchor: anchor }], ...extra },
    'gap',
    dataDir,
  );
  const service = await startMirror(config, { evaluateIntervalMs: 3_600_000 });
  return { config, service, repository: config.repositories[0], anchor };
}

/** export sigstore-site → a file → import into the gap mirror, as `tuf-mirror export` and `import` do. */
export async function carry(c: Connected, gap: Gap): Promise<ImportResult> {
  const { bytes } = exportGeneration(c.service.store, c.site);
  const file = path.join(tempDir('tuf-mirror-media-'), `${SITE}.tar.gz`);
  fs.writeFileSync(file, bytes);
  const result = await importArchive({
    store: gap.service.store,
    repository: gap.repository,
    logger: silentLogger,
    ...configuredSyncOptions(gap.config),
    file,
    maxBytes: gap.config.import.maxBytes,
  });
  gap.service.index.reload();
  return result;
}

/** tuf-js's Updater from `rootFile` through `url`: the bytes of `target` it downloads. */
export async function tufJsTarget(url: string, rootFile: string, target = 'trusted_root.json'): Promise<Buffer> {
  const dir = tempDir('tuf-mirror-client-');
  fs.copyFileSync(rootFile, path.join(dir, 'root.json'));
  const updater = new Updater({ metadataDir: dir, metadataBaseUrl: url, targetBaseUrl: `${url}/targets`, targetDir: dir, config: { fetchRetry: 0 } });
  await updater.refresh();
  const info = await updater.getTargetInfo(target);
  if (!info) throw new Error(`${target} is not a target of ${url}`);
  return fs.readFileSync(await updater.downloadTarget(info, path.join(dir, 'downloaded')));
}

/** @sigstore/tuf from `rootFile` through `url` (a fresh cache): trusted_root.json as it returns it. */
export async function sigstoreTufTrustedRoot(url: string, rootFile: string): Promise<string> {
  const client = await initTUF({ mirrorURL: url, rootPath: rootFile, cachePath: tempDir('tuf-mirror-sigstore-tuf-'), forceInit: true, retry: 0 });
  return client.getTarget('trusted_root.json');
}
