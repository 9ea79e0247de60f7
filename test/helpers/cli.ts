/** The command line, run inside the test process: the same `run()` the binary calls, without a start. */
import { run } from '../../cli/main';

export type CliRun = { status: number; stdout: string; stderr: string };

let running = false;

/**
 * `tuf-mirror ...args` through cli/main's run(), with what it writes to stdout and stderr captured
 * and the exit code it decides. One at a time: output and the exit code are the process's.
 * Only text is captured; the test runner's own reports to stdout are bytes and go through.
 */
export async function runCliInProcess(args: string[]): Promise<CliRun> {
  if (running) throw new Error('runCliInProcess: one run at a time (stdout, stderr and process.exitCode are shared)');
  running = true;
  const captured = { stdout: '', stderr: '' };
  const restore = (['stdout', 'stderr'] as const).map((name) => {
    const stream = process[name];
    const write = stream.write;
    stream.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
      if (typeof chunk !== 'string') return Reflect.apply(write, this, [chunk, ...rest]);
      captured[name] += chunk;
      const done = rest.find((r): r is () => void => typeof r === 'function');
      if (done) process.nextTick(done);
      return true;
    };
    return () => {
      stream.write = write;
    };
  });
  const exitCodeBefore = process.exitCode;
  process.exitCode = undefined;
  try {
    const status = await run([process.execPath, 'tuf-mirror', ...args]);
    return { status, ...captured };
  } finally {
    process.exitCode = exitCodeBefore;
    for (const r of restore) r();
    running = false;
  }
}
