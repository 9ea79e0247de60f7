/**
 * Debian's real `prometheus-alertmanager` (0.25), started by a test on 127.0.0.1 with its storage
 * in a temp dir and its cluster listener off (`.ci/run` installs the package). It listens on port 0
 * and its log says which port it got.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './mirror';
import { waitFor } from './wait';

export type AmAlert = { labels: Record<string, string>; annotations: Record<string, string>; startsAt: string; endsAt: string; status: { state: string } };

export function alertmanagerBinary(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v prometheus-alertmanager'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export class Alertmanager {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    private readonly dir: string,
    readonly log: () => string,
  ) {}

  /** `notify`: a URL Alertmanager posts its own notifications to (webhook receiver, resolved ones too). */
  static async start(options: { binary?: string; notify?: string } = {}): Promise<Alertmanager> {
    const binary = options.binary ?? alertmanagerBinary();
    if (!binary) throw new Error('prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)');
    const dir = tempDir('tuf-mirror-alertmanager-');
    const receiver = options.notify ? `    webhook_configs:\n      - url: ${options.notify}\n        send_resolved: true\n` : '';
    fs.writeFileSync(
      path.join(dir, 'alertmanager.yml'),
      `route:\n  receiver: test\n  group_by: [alertname, repository, item, severity]\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: test\n${receiver}`,
    );
    const child = spawn(binary, [`--config.file=${path.join(dir, 'alertmanager.yml')}`, `--storage.path=${path.join(dir, 'data')}`, '--web.listen-address=127.0.0.1:0', '--cluster.listen-address='], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.on('data', (c: Buffer) => (log += c.toString()));
    child.stderr.on('data', (c: Buffer) => (log += c.toString()));
    const exited = (): void => {
      if (child.exitCode !== null) throw new Error(`alertmanager exited with ${child.exitCode}:\n${log}`);
    };
    let url: string;
    try {
      url = await waitFor(() => {
        exited();
        const address = /msg="Listening on" address=(127\.0\.0\.1:\d+)/.exec(log)?.[1];
        return address && `http://${address}`;
      }, 'alertmanager to listen');
    } catch (err) {
      child.kill('SIGTERM');
      throw err;
    }
    const am = new Alertmanager(child, url, dir, () => log);
    try {
      await waitFor(async () => {
        exited();
        return (await fetch(`${url}/-/ready`)).ok || undefined;
      }, 'alertmanager to be ready');
    } catch (err) {
      await am.stop();
      throw err;
    }
    return am;
  }

  /** Alerts Alertmanager holds as not resolved (its GET /api/v2/alerts leaves resolved ones out). */
  async alerts(): Promise<AmAlert[]> {
    const res = await fetch(`${this.url}/api/v2/alerts`);
    if (!res.ok) throw new Error(`GET /api/v2/alerts: ${res.status}`);
    return (await res.json()) as AmAlert[];
  }

  async post(alerts: object[]): Promise<void> {
    const res = await fetch(`${this.url}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alerts) });
    if (!res.ok) throw new Error(`POST /api/v2/alerts: ${res.status} ${await res.text()}`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
