/**
 * A one-line progress display on stderr for the long commands (sync, import, export, publish):
 * files, bytes and the role being read. Only for a person watching: never when stderr is not a
 * terminal (a pipe, a log file, a CronJob), nor under --json or --quiet.
 */
import { roleOfPath } from '../lib/layout';

export type ProgressState = {
  /** `sigstore: sync`, `sigstore: export` … */
  label: string;
  files: number;
  bytes: number;
  /** The role (or `targets/<name>`) of the latest file. */
  role?: string;
};

/** Whether to show progress at all. */
export function progressWanted(o: { json?: boolean; quiet?: boolean; isTTY?: boolean }): boolean {
  return o.isTTY === true && !o.json && !o.quiet;
}

export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** The line as shown, cut to the terminal's width (80 when the terminal does not say). */
export function renderProgress(s: ProgressState, columns?: number): string {
  // A terminal may say 0 columns: as good as not saying.
  const width = columns === undefined || columns === 0 ? 80 : columns;
  const line = `${s.label}: ${s.files} ${s.files === 1 ? 'file' : 'files'}, ${humanBytes(s.bytes)}${s.role ? ` (${s.role})` : ''}`;
  return line.length < width ? line : line.slice(0, Math.max(0, width - 2)) + '…';
}

type Terminal = { write(text: string): unknown; columns?: number };

/** Counts files as they pass and redraws the line at most every `intervalMs`; off when `terminal` is undefined. */
export class Progress {
  private readonly state: ProgressState;
  private drawnAt = 0;
  private drawn = false;

  constructor(
    private readonly terminal: Terminal | undefined,
    label: string,
    private readonly intervalMs = 100,
    private readonly now: () => number = Date.now,
  ) {
    this.state = { label, files: 0, bytes: 0 };
  }

  /** A file read, fetched or written: its path in the repository layout and its size. */
  readonly file = (path: string, bytes: number): void => {
    this.state.files++;
    this.state.bytes += bytes;
    this.state.role = roleOfPath(path);
    if (!this.terminal || this.now() - this.drawnAt < this.intervalMs) return;
    this.drawnAt = this.now();
    this.drawn = true;
    // \r back to the line's start, \x1b[K clears what a longer previous line left.
    this.terminal.write(`\r${renderProgress(this.state, this.terminal.columns)}\x1b[K`);
  };

  /** Clear the line, so the command's own report starts on a clean one. */
  done(): void {
    if (this.terminal && this.drawn) this.terminal.write('\r\x1b[K');
    this.drawn = false;
  }
}

/** Progress on stderr if a person is watching, else a counter that draws nothing. */
export function progressOnStderr(label: string, o: { json?: boolean; quiet?: boolean }): Progress {
  const terminal = progressWanted({ ...o, isTTY: process.stderr.isTTY }) ? process.stderr : undefined;
  return new Progress(terminal, label);
}
