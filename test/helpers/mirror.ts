import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before } from 'node:test';
import { parseConfig, type Config } from '../../config/config';
import { silentLogger } from '../../lib/log';
import { packageRoot } from '../../lib/paths';
import { startService, type Service, type ServiceOptions } from '../../server/service';
import type { TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

/** The public-good repository as published on 2026-08-21 (see test/fixtures/README.md). */
export const FIXTURE = path.join(packageRoot(), 'test', 'fixtures', 'sigstore-tuf-2026-08-21');
/** A moment when every role of FIXTURE is valid. */
export const FIXTURE_NOW = Date.parse('2026-08-22T00:00:00Z');

/** The folders tempDir made in this process, removed when it exits: each test file is a process. */
const made: string[] = [];

function removeMade(): void {
  for (const dir of made) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // A folder a test made unreadable stays; it is under the system's temp dir.
    }
  }
}

export function tempDir(prefix = 'tuf-mirror-test-'): string {
  if (!made.length) process.once('exit', removeMade);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Every file of a directory tree, by its path relative to the root. */
export function readTree(root: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const abs = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(abs);
      else out.set(path.relative(root, abs).split(path.sep).join('/'), fs.readFileSync(abs));
    }
  };
  walk(root);
  return out;
}

export type MirrorRepo = { name?: string; upstream: string; anchor: string | Buffer; default?: boolean };

/** A validated config for tests: loopback, random port, no sync on start unless asked. */
export function testConfig(repos: MirrorRepo[], extra: Record<string, unknown> = {}, dataDir = tempDir()): Config {
  const repositories = repos.map((r, i) => {
    let anchor = r.anchor;
    if (Buffer.isBuffer(anchor)) {
      const file = path.join(dataDir, `anchor-${i}.root.json`);
      fs.mkdirSync(dataDir, { recursive: true });
      fs.writeFileSync(file, anchor);
      anchor = file;
    }
    return { name: r.name ?? 'sigstore', upstream: r.upstream, trustAnchor: anchor, ...(r.default !== undefined ? { default: r.default } : {}) };
  });
  return parseConfig({ dataDir, server: { host: '127.0.0.1', port: 0 }, sync: { onStart: false }, repositories, ...extra }, 'test', dataDir);
}

export function startMirror(config: Config, options: ServiceOptions = {}): Promise<Service> {
  return startService(config, silentLogger, { reloadIntervalMs: 50, schedule: false, ...options });
}

/**
 * For an after(): what its before() assigned, or undefined. A before() that failed left the rest
 * unassigned, which the variables' types (set for the tests, which run only after a good before())
 * do not say.
 */
export function ifStarted<T>(value: T): T | undefined {
  return value;
}

export async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const res = await fetch(url, { headers });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

/**
 * For a test file: before its tests, an upstream serving `repo` as it is at each request, and a
 * mirror of it anchored on root v1; both closed after. Read them from the returned object.
 */
export function mirrorOfRepository(repo: TestRepository, extra: Record<string, unknown> = {}, options: ServiceOptions = {}): { upstream: UpstreamServer; mirror: Service } {
  const env = {} as { upstream: UpstreamServer; mirror: Service };
  before(async () => {
    env.upstream = await startUpstreamServer(() => repo.files());
    env.mirror = await startMirror(testConfig([{ upstream: env.upstream.url, anchor: repo.rootBytes(1) }], extra), options);
  });
  after(async () => {
    await ifStarted(env.mirror)?.close();
    await ifStarted(env.upstream)?.close();
  });
  return env;
}
