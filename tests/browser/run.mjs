// Opens floe's web page (served by `floe signal`) in headless Chromium, waits until the
// browser's ICE connection is connected, and prints one JSON line with its states, the selected
// candidate pair (from getStats), the time from offer to connected and the page's log. A first
// line `{"ready":true}` says the page joined its signaling room.
//
// Driven by tests/browser.rs; environment:
//   FLOE_PAGE_URL       the page, e.g. http://10.99.0.1:8080/?room=/r1&role=call (required)
//   FLOE_CHROMIUM       the browser (default /usr/bin/chromium)
//   FLOE_CHROMIUM_ARGS  extra command-line switches, space separated
//   FLOE_TIMEOUT_MS     how long to wait for `connected` (default 20000)
//   FLOE_HOLD_MS        how long to stay connected before saying bye (default 1500)
// Exit status 0 when ICE connected and a selected pair was found, 1 otherwise, 2 on a setup error.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const url = process.env.FLOE_PAGE_URL;
if (!url) {
  console.error('FLOE_PAGE_URL is not set');
  process.exit(2);
}
const executablePath = process.env.FLOE_CHROMIUM || '/usr/bin/chromium';
const extra = (process.env.FLOE_CHROMIUM_ARGS || '').split(/\s+/).filter(Boolean);
const timeout = Number(process.env.FLOE_TIMEOUT_MS || 20000);
const hold = Number(process.env.FLOE_HOLD_MS || 1500);

const profile = mkdtempSync(join(tmpdir(), 'floe-chromium-'));
let context;
let result = { ok: false };
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-default-apps',
      '--disable-extensions',
      ...extra,
    ],
  });
  const page = context.pages()[0] || (await context.newPage());
  page.on('console', (m) => process.stderr.write(`[page ${m.type()}] ${m.text()}\n`));
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  await page.goto(url);
  // The page is in its room: tell the driver, which may start a floe caller now.
  await page.waitForFunction(
    () => window.floeLog && window.floeLog.some((l) => l.text === 'signaling connected'),
    null,
    { timeout, polling: 20 },
  );
  process.stdout.write(JSON.stringify({ ready: true }) + '\n');
  let connected = false;
  try {
    await page.waitForFunction(
      () => window.floeState && window.floeState.iceConnectedAt !== null && window.floeSelected,
      null,
      { timeout, polling: 50 },
    );
    connected = true;
  } catch (e) {
    process.stderr.write(`not connected: ${e.message.split('\n')[0]}\n`);
  }
  if (connected) await page.waitForTimeout(hold);
  result = await page.evaluate(() => ({
    state: window.floeState,
    selected: window.floeSelected,
    log: window.floeLog,
    version: navigator.userAgent,
  }));
  result.ok = connected;
  await page.evaluate(() => window.floeBye());
  await page.waitForTimeout(200);
} catch (e) {
  result.error = String(e && e.stack ? e.stack : e);
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(result) + '\n');
process.exit(result.ok ? 0 : result.error ? 2 : 1);
