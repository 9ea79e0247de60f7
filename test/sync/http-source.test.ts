/**
 * The HTTP source on its own, against real servers on 127.0.0.1: redirects followed as fetch()
 * follows them (credentials only to the same origin), the base path kept, caps and codes.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { SyncError } from '../../sync/errors';
import { HttpSource } from '../../sync/source';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const servers: UpstreamServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function server(files: Record<string, string>, basePath?: string): Promise<{ up: UpstreamServer; authorizations: (string | undefined)[] }> {
  const up = await startUpstreamServer(new Map(Object.entries(files).map(([k, v]) => [k, Buffer.from(v)])), { basePath });
  servers.push(up);
  const authorizations: (string | undefined)[] = [];
  up.setHandler((req, res, next) => {
    authorizations.push(req.headers.authorization);
    return next();
  });
  return { up, authorizations };
}

const source = (url: string) => new HttpSource(url, { timeoutMs: 5000, userAgent: 'test' });

test('a path under the base path, encoded per segment; credentials as a Basic header', async () => {
  const { up, authorizations } = await server({ 'targets/a b/c.json': 'c\n' }, 'repo');
  const src = source(up.url.replace('http://', 'http://user:secret@'));
  try {
    assert.equal((await src.get('targets/a b/c.json', { maxBytes: 100 })).toString(), 'c\n');
    assert.deepEqual(up.requests, ['repo/targets/a b/c.json']);
    assert.deepEqual(authorizations, [`Basic ${Buffer.from('user:secret').toString('base64')}`]);
  } finally {
    src.close();
  }
});

test('redirects are followed; credentials go to the same origin only; too many end as UPSTREAM_UNREACHABLE', async () => {
  const other = await server({ 'moved/timestamp.json': 'elsewhere\n' });
  const { up, authorizations } = await server({ 'moved/timestamp.json': 'here\n' });
  const src = source(up.url.replace('http://', 'http://user:secret@'));
  try {
    up.setHandler((req, res, next) => {
      authorizations.push(req.headers.authorization);
      if (req.url === '/timestamp.json') return void res.writeHead(302, { location: '/moved/timestamp.json' }).end();
      if (req.url === '/away.json') return void res.writeHead(307, { location: `${other.up.url}/moved/timestamp.json` }).end();
      if (req.url === '/loop.json') return void res.writeHead(301, { location: '/loop.json' }).end();
      return next();
    });
    assert.equal((await src.get('timestamp.json', { maxBytes: 100 })).toString(), 'here\n');
    assert.ok(
      authorizations.every((a) => a !== undefined),
      'same origin: credentials kept',
    );
    assert.equal((await src.get('away.json', { maxBytes: 100 })).toString(), 'elsewhere\n');
    assert.deepEqual(other.authorizations, [undefined], 'another origin: no credentials');
    await assert.rejects(src.get('loop.json', { maxBytes: 100 }), (err: unknown) => err instanceof SyncError && err.code === 'UPSTREAM_UNREACHABLE' && err.message.includes('redirects'));
  } finally {
    src.close();
  }
});

test('a status other than 200, a body over the cap, a refused path', async () => {
  const { up } = await server({ 'big.json': 'x'.repeat(1000) });
  const src = source(up.url);
  try {
    await assert.rejects(src.get('missing.json', { maxBytes: 100 }), (err: unknown) => err instanceof SyncError && err.code === 'UPSTREAM_HTTP_ERROR' && err.status === 404);
    await assert.rejects(src.get('big.json', { maxBytes: 100 }), (err: unknown) => err instanceof SyncError && err.code === 'RESPONSE_TOO_LARGE');
    up.override('big.json', { oversizeTo: 5000 });
    await assert.rejects(src.get('big.json', { maxBytes: 2000 }), (err: unknown) => err instanceof SyncError && err.code === 'RESPONSE_TOO_LARGE' && err.message.includes('kept coming'));
    await assert.rejects(src.get('../x.json', { maxBytes: 100 }), (err: unknown) => err instanceof SyncError && err.code === 'UNSAFE_PATH');
    assert.ok(!up.requests.includes('x.json'));
  } finally {
    src.close();
  }
});
