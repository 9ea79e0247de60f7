/**
 * A URL's `user:password@`, as a Basic Authorization header and the URL without them: fetch()
 * refuses URLs that carry credentials, and a URL without them is fit for logs.
 */
export function splitCredentials(raw: string): { url: string; authorization?: string } {
  const u = new URL(raw);
  if (!u.username && !u.password) return { url: raw };
  const authorization = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
  u.username = '';
  u.password = '';
  return { url: u.toString(), authorization };
}
