/** A span of seconds as an operator reads it: `3d 4h`, `2h 5m`, `7m 3s`, `42s` (never negative). */
export function humanDuration(seconds: number): string {
  const s = Math.max(0, seconds);
  if (s >= 86400) return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${s}s`;
}
