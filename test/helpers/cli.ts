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
    // Put back as found: the stream's own write if it had one, else the prototype's again.
    const own = Object.getOwnPropertyDescriptor(stream, 'write');
    const write = stream.write.bind(stream);
    stream.write = function (chunk: unknown, ...rest: unknown[]): boolean {
      if (typeof chunk !== 'string') return Reflect.apply(write, undefined, [chunk, ...rest]);
      captured[name] += chunk;
      const done = rest.find((r): r is () => void => typeof r === 'function');
      if (done) process.nextTick(done);
      return true;
    };
    return () => {
      if (own) Object.defineProperty(stream, 'write', own);
      else Reflect.deleteProperty(stream, 'write');
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
