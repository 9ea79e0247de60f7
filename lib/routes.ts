/**
 * The first URL segments the service answers itself (server/app.ts), never a repository's files:
 * server/tuf-files.ts hands these to express, and config refuses them as repository names.
 */
export const SERVICE_ROUTES: ReadonlySet<string> = new Set(['api', 'healthz', 'readyz', 'metrics', 'status', 'favicon.ico']);

/**
 * Names a repository may not take: every service route (a repository `api` would be shadowed by
 * the API), `targets` (the default repository's `/targets/…` would become another repository's
 * files), and `static`, kept free for the service. favicon.ico needs no entry: no repository name
 * has a dot.
 */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([...[...SERVICE_ROUTES].filter((r) => /^[a-z0-9-]+$/.test(r)), 'targets', 'static']);
