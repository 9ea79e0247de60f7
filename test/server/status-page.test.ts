/**
 * The status page in a real browser (Debian's headless Chromium driven by playwright-core):
 * it renders from the mirror alone, shows the expiring timestamp as warning, and logs no errors.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, mock, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { packageRoot } from '../../lib/paths';
import type { Service } from '../../server/service';
import { FIXTURE, FIXTURE_NOW, get, startMirror, testConfig } from '../helpers/mirror';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = fs.existsSync(CHROMIUM);
// CI installs Chromium (.ci/run); a developer machine without it skips, saying why.
const skip = !available && !process.env.CI ? `no Chromium at ${CHROMIUM} (apt-get install chromium)` : false;
const OUTPUT = path.join(packageRoot(), 'test-output');

let upstream: UpstreamServer;
let mirror: Service;
let browser: Browser;
/** The page of a test that did not pass: its screenshot is kept in test-output/ to see why. */
let failed: Page | undefined;
/** How to close what before() started, in order: before() can stop half-way, and after() closes only what it got to. */
const closers: (() => Promise<unknown>)[] = [];

before(async () => {
  if (skip) return;
  mock.timers.enable({ apis: ['Date'], now: FIXTURE_NOW });
  upstream = await startUpstreamServer(FIXTURE);
  closers.push(() => upstream.close());
  mirror = await startMirror(testConfig([{ upstream: upstream.url, anchor: `${FIXTURE}/1.root.json` }]));
  closers.push(() => mirror.close());
  assert.equal((await mirror.syncAll())[0].outcome, 'updated');
  mock.timers.setTime(Date.parse('2026-08-26T00:00:00Z')); // timestamp: 2d 19h left → warning
  await mirror.syncAll();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  closers.push(() => browser.close());
});
after(async () => {
  if (skip) return;
  if (failed) {
    fs.mkdirSync(OUTPUT, { recursive: true });
    await failed.screenshot({ path: path.join(OUTPUT, 'status-page.png'), fullPage: true });
    process.stderr.write(`status page: screenshot in ${path.join(OUTPUT, 'status-page.png')}\n`);
  }
  for (const close of closers.reverse()) await close();
  mock.timers.reset();
});

test('the status page renders in Chromium with the expiring role as warning and no console errors', { skip }, async () => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 1400 } });
  failed = page;
  const problems: string[] = [];
  const foreign: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('request', (r) => {
    if (!r.url().startsWith(mirror.url)) foreign.push(r.url());
  });

  const response = await page.goto(`${mirror.url}/`);
  assert.equal(response?.status(), 200);
  assert.match(response.headers()['content-type'], /text\/html/);
  // Let the countdown's timer rewrite it once (its first run is at load).
  await page.evaluate(
    `new Promise((resolve) => new MutationObserver(resolve).observe(document.querySelector('tr[data-role="timestamp"] .countdown'), { childList: true, characterData: true, subtree: true }))`,
  );

  assert.equal(await page.locator('tr[data-role="timestamp"] .badge').innerText(), 'warning');
  assert.equal(await page.locator('tr[data-role="snapshot"] .badge').innerText(), 'ok');
  assert.match(await page.locator('tr[data-role="timestamp"] .countdown').innerText(), /^2d 19h \d+m$/);
  assert.match(await page.locator('#repo-sigstore h2').innerText(), /sigstore/);
  assert.equal(await page.locator('#repo-sigstore ol.timeline li').count(), 15, 'every root in the timeline');
  assert.match(await page.title(), /warning/);
  assert.deepEqual(problems, []);
  assert.deepEqual(foreign, [], 'no request leaves the mirror');

  // The same URL still answers JSON to a client that asks for it.
  const json = await get(`${mirror.url}/`, { accept: 'application/json' });
  assert.equal(JSON.parse(json.body.toString()).state, 'warning');
  failed = undefined;
});
