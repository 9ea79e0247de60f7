/**
 * README's consumer table ("Every consumer, what to run, what it gets, and how it stays fresh"),
 * executed: every `tuf-mirror …` command of its "what to run" column is parsed out of the README
 * and run as written by sh (a `tuf-mirror` on PATH that is this checkout's CLI, TUF_MIRROR_CONFIG
 * naming a mirror of the public-good repository synced at 2026-08-22), and what it prints is
 * checked: exit 0, and a Kubernetes object valid against its consumer's schema. The table cannot
 * drift from what the commands do, and names every format that is a Kubernetes object.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, mock, test } from 'node:test';
import YAML from 'yaml';
import { packageRoot } from '../../lib/paths';
import { OBJECT_FORMATS } from '../../trust/formats';
import { objectProblems } from '../helpers/crds';
import { FIXTURE, FIXTURE_NOW, startMirror, tempDir, testConfig } from '../helpers/mirror';
import { startUpstreamServer } from '../../testing/upstream-server';

const ROOT = packageRoot();
const PUBLIC_URL = 'http://tuf-mirror.tuf-mirror.svc:8080';

/** The table's rows: consumer, and the commands of its "what to run" cell. */
function consumerTable(readme: string): { consumer: string; commands: string[]; text: string }[] {
  const start = readme.indexOf('| consumer | what to run | what it gets | how it stays fresh |');
  assert.ok(start > 0, 'README has the consumer table');
  const rows = readme.slice(start).split('\n\n')[0].split('\n').slice(2);
  return rows.map((row) => {
    const cells = row
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((c) => c.trim());
    const commands = [...cells[1].matchAll(/`(tuf-mirror [^`]+)`/g)].map((m) => m[1]);
    return { consumer: cells[0], commands, text: row };
  });
}

let dir = '';
before(async () => {
  dir = tempDir('tuf-mirror-readme-consumers-');
  // The data: public-good synced with the clock at 2026-08-22 (its timestamp has expired since;
  // handing out what is held does not need it valid).
  mock.timers.enable({ apis: ['Date'], now: FIXTURE_NOW });
  const upstream = await startUpstreamServer(FIXTURE);
  const dataDir = path.join(dir, 'data');
  const anchor = path.join(FIXTURE, '14.root.json');
  const mirror = await startMirror(testConfig([{ upstream: upstream.url, anchor }], {}, dataDir));
  assert.equal((await mirror.syncAll())[0].outcome, 'updated');
  await mirror.close();
  await upstream.close();
  mock.timers.reset();
  fs.writeFileSync(
    path.join(dir, 'tuf-mirror.yaml'),
    YAML.stringify({ dataDir, server: { publicUrl: PUBLIC_URL }, repositories: [{ name: 'sigstore', upstream: upstream.url, trustAnchor: anchor, default: true }] }),
  );
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.writeFileSync(path.join(dir, 'bin', 'tuf-mirror'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(ROOT, 'dist', 'cli', 'main.js'))} "$@"\n`, { mode: 0o755 });
});
after(() => mock.timers.reset());

const sh = (command: string): Promise<{ status: number; stdout: string; stderr: string }> =>
  new Promise((resolve) =>
    execFile(
      'sh',
      ['-c', command],
      { cwd: dir, env: { ...process.env, PATH: `${path.join(dir, 'bin')}:${process.env.PATH ?? ''}`, TUF_MIRROR_CONFIG: path.join(dir, 'tuf-mirror.yaml') } },
      (err, stdout, stderr) => resolve({ status: err ? Number(err.code) : 0, stdout, stderr }),
    ),
  );

test('every command of the consumer table runs as written and hands out a valid object', async () => {
  const rows = consumerTable(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
  assert.ok(rows.length >= 10);
  const run = new Set<string>();
  for (const row of rows) {
    assert.ok(row.commands.length, `${row.consumer}: a command to run`);
    for (const command of row.commands) {
      const r = await sh(command);
      assert.equal(r.status, 0, `${command}\n${r.stderr}`);
      assert.ok(r.stdout.length > 0, command);
      const format = /--format (\S+)/.exec(command)?.[1] ?? '';
      run.add(format);
      if (!OBJECT_FORMATS.some((f) => f === format)) continue;
      const doc = YAML.parse(r.stdout) as Record<string, unknown>;
      assert.deepEqual(objectProblems(doc), [], command);
    }
  }
  // Every format refresh-cluster can keep fresh is in the table, run or named.
  const table = rows.map((r) => r.text).join('\n');
  for (const f of OBJECT_FORMATS) assert.ok(run.has(f) || table.includes(`\`${f}\``), `the table covers ${f}`);
});
