/**
 * Who holds a sync lock, and whether that holder is provably dead.
 *
 * An owner is `host:pid:nonce`, followed on Linux by `@boot/pidns/start`: the kernel's boot id,
 * the inode of the holder's pid namespace and its start time in clock ticks since boot
 * (/proc/<pid>/stat field 22). A pid means something only inside its own pid namespace on one boot,
 * and a pid may be reused by a later process: the first two say whether this process can ask about
 * the holder's pid at all (two containers of one pod share a hostname, not their pids), the
 * start time tells a reused pid from the holder. Where /proc cannot say (another OS, hidepid, an
 * owner from an older version or another host), nothing is proven and the store's heartbeat rule
 * alone applies.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';

type Stat = { state: string; startTicks: string };

/** State and start time of a process of our pid namespace; undefined when /proc has no such entry. */
function procStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const startTicks = fields[19]; // field 22 of the whole line
  return fields[0] && startTicks && /^\d+$/.test(startTicks) ? { state: fields[0], startTicks } : undefined;
}

/** `boot/pidns` of this process, when /proc is this pid namespace's; undefined otherwise. */
function pidScope(): string | undefined {
  try {
    // A /proc mounted for another pid namespace would name some other process `self`.
    if (fs.readlinkSync('/proc/self') !== String(process.pid)) return undefined;
    const boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim();
    const ns = /^pid:\[(\d+)\]$/.exec(fs.readlinkSync('/proc/self/ns/pid'))?.[1];
    return /^[0-9a-f-]+$/.test(boot) && ns ? `${boot}/${ns}` : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a process with this pid exists in our namespace (under any user). */
function exists(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: only the existence and permission checks
    return true;
  } catch (err) {
    // ESRCH: no such process. EPERM: it exists, under another user.
    return !(err instanceof Error && 'code' in err && err.code === 'ESRCH');
  }
}

const OWNER = /^[^:]*:(\d+):[^:@]+(?:@([0-9a-f-]+\/\d+)\/(\d+))?$/;

/** The owner string for process `pid` of this machine (this process by default). */
export function lockOwner(pid: number = process.pid): string {
  const base = `${os.hostname()}:${pid}:${randomUUID().slice(0, 8)}`;
  const scope = pidScope();
  const start = procStat(pid)?.startTicks;
  return scope && start ? `${base}@${scope}/${start}` : base;
}

/**
 * True only when the holder ran in this pid namespace on this boot and is gone: no such process,
 * a zombie (killed, not yet reaped by its parent), or another process now under its pid.
 * A pid-reuse check needs the start time: owners without one never get here, they go stale.
 */
export function holderIsGone(owner: string): boolean {
  const [, pidText, scope, startTicks] = OWNER.exec(owner) ?? [];
  if (!pidText || !scope || !startTicks || scope !== pidScope()) return false;
  const pid = Number(pidText);
  if (!Number.isSafeInteger(pid) || pid < 1) return false; // kill(0) would signal our own group
  if (!exists(pid)) return true;
  const stat = procStat(pid);
  // No entry for a pid that exists: /proc hides it (hidepid), or it died just now.
  if (!stat) return !exists(pid);
  return stat.state === 'Z' || stat.state === 'X' || stat.startTicks !== startTicks;
}
