import pino from 'pino';

export type Logger = pino.Logger;

/**
 * One JSON line per event (what `kubectl logs` and docker collect): on stdout for the server,
 * on stderr for one-shot commands whose stdout is their answer.
 * Tokens never reach a log line: they are redacted wherever they appear.
 */
export function createLogger(level: string = process.env.TUF_MIRROR_LOG_LEVEL ?? 'info', fd: 1 | 2 = 1): Logger {
  return pino(
    {
      level,
      base: { service: 'tuf-mirror' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: ['adminToken', '*.adminToken', 'headers.authorization', 'req.headers.authorization'],
    },
    pino.destination({ fd, sync: true }),
  );
}

/** A logger that drops everything: for library callers and tests that want silence. */
export const silentLogger: Logger = pino({ level: 'silent' });

/** Any `scheme://user:password@` inside a text (an error message naming a URL) with the credentials removed. */
export function redactUrlsIn(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*@/gi, '$1');
}

/** An upstream URL fit for a log line or an API answer: credentials stripped. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = '';
      u.password = '';
    }
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}
