/**
 * README's "Try it offline in five minutes", executed: its ```sh blocks are parsed out of the
 * README and fed to one bash, command by command, and what each prints is compared with the
 * output block that follows it (`…` stands for what differs between runs; a line of `…` alone
 * for any number of lines). Only the ports change: 8080 and 5000 become free ones, so the test
 * can run beside anything. The README cannot drift from what the commands do.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { packageRoot } from '../../lib/paths';
import { tempDir } from '../helpers/mirror';
import { freePort } from '../helpers/wait';

const ROOT = packageRoot();
const missing = ['docker-registry', 'curl', 'bash'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
const skip = missing.length ? `${missing.join(', ')} not installed (.ci/run installs docker-registry)` : false;

type Step = { command: string; exit: number; expected?: string[] };

/** The walkthrough's commands, each with its expected exit code and, if shown, its output. */
export function walkthroughSteps(readme: string, ports: { origin: number; registry: number }): Step[] {
  const start = readme.indexOf('## Try it offline in five minutes');
  assert.ok(start >= 0, 'README has the walkthrough');
  const section = readme
    .slice(start, readme.indexOf('\n## ', start + 1))
    .replaceAll('127.0.0.1:8080', `127.0.0.1:${ports.origin}`)
    .replaceAll('port: 8080', `port: ${ports.origin}`)
    .replaceAll('127.0.0.1:5000', `127.0.0.1:${ports.registry}`);
  const steps: Step[] = [];
  for (const block of section.matchAll(/```(sh)?\n([\s\S]*?)```/g)) {
    const lines = block[2].replace(/\n$/, '').split('\n');
    if (!block[1]) {
      assert.ok(steps.length, 'an output block follows a command');
      steps[steps.length - 1].expected = lines;
      continue;
    }
    for (let i = 0; i < lines.length; i++) {
      let command = lines[i];
      const heredoc = /<<'(\w+)'/.exec(command)?.[1];
      if (heredoc) while (lines[i] !== heredoc) command += '\n' + lines[++i];
      while (command.endsWith('\\')) command += '\n' + lines[++i];
      const exit = /#\s*exit (\d+)\s*$/.exec(command);
      steps.push({ command, exit: exit ? Number(exit[1]) : 0 });
    }
  }
  return steps;
}

/** Lines match one to one, `…` within a line matches anything, a line of `…` any number of lines. */
export function matches(expected: string[], actual: string[]): boolean {
  if (!expected.length) return !actual.length;
  const [head, ...rest] = expected;
  if (head === '…') return actual.some((_, i) => matches(rest, actual.slice(i))) || matches(rest, []);
  if (!actual.length) return false;
  const pattern = new RegExp(
    `^${head
      .split('…')
      .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return pattern.test(actual[0]) && matches(rest, actual.slice(1));
}

let shell: ChildProcessWithoutNullStreams | undefined;
after(() => {
  // The walkthrough stops what it started; this is only for a run that failed half-way.
  if (shell?.pid) {
    try {
      process.kill(-shell.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
});

test('README "Try it offline in five minutes", command by command', { skip, timeout: 300_000 }, async () => {
  const ports = { origin: await freePort(), registry: await freePort() };
  const steps = walkthroughSteps(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'), ports);
  assert.ok(steps.length >= 10, `${steps.length} commands`);

  // What `npm install -g .` provides: tuf-mirror on PATH, running this checkout.
  const bin = tempDir('tuf-mirror-walkthrough-bin-');
  fs.writeFileSync(path.join(bin, 'tuf-mirror'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(ROOT, 'dist', 'cli', 'main.js'))} "$@"\n`, { mode: 0o755 });
  // Its `mktemp -d` lands in a folder of ours, removed with the others when this file ends.
  const tmp = tempDir('tuf-mirror-walkthrough-');
  shell = spawn('bash', [], { cwd: ROOT, env: { ...process.env, PATH: `${bin}:${String(process.env.PATH)}`, TMPDIR: tmp }, detached: true });
  let out = '';
  shell.stdout.on('data', (d: Buffer) => (out += d.toString()));
  shell.stdin.write('exec 2>&1\n');

  const runStep = (command: string): Promise<{ exit: number; output: string }> =>
    new Promise((resolve, reject) => {
      const from = out.length;
      const timer = setTimeout(() => reject(new Error(`no end within 60 s:\n${command}\n${out.slice(from)}`)), 60_000);
      const check = (): void => {
        const m = /__STEP_DONE_(\d+)__\n/.exec(out.slice(from));
        if (!m) return;
        clearTimeout(timer);
        shell!.stdout.off('data', check);
        resolve({ exit: Number(m[1]), output: out.slice(from, from + m.index) });
      };
      shell!.stdout.on('data', check);
      shell!.stdin.write(`${command}\necho "__STEP_DONE_$?__"\n`);
    });

  for (const step of steps) {
    const { exit, output } = await runStep(step.command);
    assert.equal(exit, step.exit, `exit ${exit} from:\n${step.command}\n${output}`);
    if (step.expected) {
      const actual = output.replace(/\n$/, '').split('\n');
      assert.ok(matches(step.expected, actual), `the output of\n${step.command}\nwas\n${output}\nbut README shows\n${step.expected.join('\n')}`);
    }
  }
  // The last step stopped the background processes: nothing is left running.
  shell.stdin.end();
  await new Promise((resolve) => shell!.once('exit', resolve));
});

test('the output matcher', () => {
  assert.ok(matches(['a …', '…', 'z'], ['a b', 'x', 'y', 'z']));
  assert.ok(matches(['…'], []));
  assert.ok(!matches(['a'], ['a', 'b']));
  assert.ok(!matches(['a.c'], ['abc']), 'regex characters are literal');
});
