/**
 * The status page in a real browser (Debian's headless Chromium driven by playwright-core):
 * it renders from the mirror alone, shows the expiring timestamp as warning, and logs no errors.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, mock, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { packageRoot } from '../lib/paths';
import type { Service } from '../server/service';
import { FIXTURE, FIXTURE_NOW, get, startMirror, testConfig } from './helpers/mirror';
import { startUpstreamServer, type UpstreamServer } from './helpers/upstream-server';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = fs.existsSync(CHROMIUM);
// CI installs Chromium (.ci/run); a developer machine without it skips, saying why.
const skip = !available && !process.env.CI ? `no Chromium at ${CHROMIUM} (apt-get install chromium)` : false;
const OUTPUT = path.join(packageRoot(), 'test-output');

let upstream: UpstreamServer;
let mirror: Service;
let browser: Browser;

before(async () => {
  if (skip) return;
  mock.timers.enable({ apis: ['Date'], now: FIXTURE_NOW });
  upstream = await startUpstreamServer(FIXTURE);
  mirror = await startMirror(testConfig([{ upstream: upstream.url, anchor: `${FIXTURE}/1.root.json` }]));
  assert.equal((await mirror.syncAll())[0].outcome, 'updated');
  mock.timers.setTime(Date.parse('2026-08-26T00:00:00Z')); // timestamp: 2d 19h left → warning
  await mirror.syncAll();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => {
  if (skip) return;
  await browser?.close();
  await mirror?.close();
  await upstream?.close();
  mock.timers.reset();
});

test('the status page renders in Chromium with the expiring role as warning and no console errors', { skip }, async (t) => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 1400 } });
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
  await page.waitForTimeout(1200); // let the countdown tick at least once

  assert.equal(await page.locator('tr[data-role="timestamp"] .badge').innerText(), 'warning');
  assert.equal(await page.locator('tr[data-role="snapshot"] .badge').innerText(), 'ok');
  assert.match(await page.locator('tr[data-role="timestamp"] .countdown').innerText(), /^2d 19h \d+m$/);
  assert.match(await page.locator('#repo-sigstore h2').innerText(), /sigstore/);
  assert.equal(await page.locator('#repo-sigstore ol.timeline li').count(), 15, 'every root in the timeline');
  assert.match(await page.title(), /warning/);
  assert.deepEqual(problems, []);
  assert.deepEqual(foreign, [], 'no request leaves the mirror');

  fs.mkdirSync(OUTPUT, { recursive: true });
  const shot = path.join(OUTPUT, 'status-page.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.diagnostic(`screenshot: ${shot}`);

  // The same URL still answers JSON to a client that asks for it.
  const json = await get(`${mirror.url}/`, { accept: 'application/json' });
  assert.equal(JSON.parse(json.body.toString()).state, 'warning');
});
