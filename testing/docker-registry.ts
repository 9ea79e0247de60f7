/**
 * Debian's `docker-registry` (CNCF distribution 2.8) on 127.0.0.1, started by the tests with a
 * generated config in a temp dir (`.ci/run` installs the package), and a minimal push client.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pushBlob, pushBundleReferrer, pushManifest } from '../scripts/oci-push';

export { sha256 } from '../scripts/oci-push';

export function dockerRegistryBinary(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v docker-registry'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export class DockerRegistry {
  private constructor(
    private readonly child: ChildProcess,
    readonly host: string,
    readonly dir: string,
  ) {}

  get url(): string {
    return `http://${this.host}`;
  }

  static async start(binary = dockerRegistryBinary()): Promise<DockerRegistry> {
    if (!binary) throw new Error('docker-registry is not installed (apt-get install docker-registry)');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-mirror-registry-'));
    const config = path.join(dir, 'config.yml');
    fs.writeFileSync(
      config,
      [
        'version: 0.1',
        'log:',
        '  level: info',
        '  accesslog:',
        '    disabled: true',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${path.join(dir, 'data')}`,
        '  delete:',
        '    enabled: true',
        'http:',
        '  addr: 127.0.0.1:0',
        `  secret: ${createHash('sha256').update(dir).digest('hex')}`,
        '',
      ].join('\n'),
    );
    const child = spawn(binary, ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    const host = await new Promise<string>((resolve, reject) => {
      let log = '';
      const timer = setTimeout(() => reject(new Error(`docker-registry did not start:\n${log}`)), 15_000);
      const onData = (c: Buffer): void => {
        log += c.toString();
        const m = /listening on (127\.0\.0\.1:\d+)/.exec(log);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => reject(new Error(`docker-registry exited with ${String(code)}:\n${log}`)));
    });
    child.stdout.resume();
    child.stderr.resume();
    return new DockerRegistry(child, host, dir);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  pushBlob(repository: string, bytes: Buffer | string): Promise<{ digest: string; size: number }> {
    return pushBlob(this.url, repository, bytes);
  }

  pushManifest(repository: string, reference: string, manifest: object | Buffer): Promise<{ digest: string; size: number; mediaType: string }> {
    return pushManifest(this.url, repository, reference, manifest);
  }

  /** A small random image: config and one layer, pushed and tagged. */
  async pushImage(repository: string, tag: string, seed = Math.random().toString()): Promise<{ digest: string; size: number; mediaType: string }> {
    const config = await this.pushBlob(repository, JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] }, seed }));
    const layer = await this.pushBlob(repository, `layer ${seed}`);
    return this.pushManifest(repository, tag, {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
    });
  }

  /** cosign's `sha256-<hex>.sig` manifest for `digest`, one simple-signing layer per signature. */
  async pushCosignSignatures(repository: string, digest: string, layers: { payload: Buffer; annotations: Record<string, string> }[]): Promise<void> {
    const config = await this.pushBlob(repository, '{}');
    const descriptors = [];
    for (const l of layers) {
      const blob = await this.pushBlob(repository, l.payload);
      descriptors.push({ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', ...blob, annotations: l.annotations });
    }
    await this.pushManifest(repository, `${digest.replace(':', '-')}.sig`, {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: descriptors,
    });
  }

  /** A Sigstore bundle as an OCI 1.1 referrer of `subject`, with the referrers-tag fallback (distribution 2.8 has no referrers API). */
  pushBundleReferrer(repository: string, subject: { digest: string; size: number; mediaType: string }, bundle: object): Promise<string> {
    return pushBundleReferrer(this.url, repository, subject, bundle);
  }
}
