// The audit export from the UI verifies, downloads byte for byte, and a flipped byte fails it.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { advanceTo } from './flows.mjs';
import { browser, open, serve, shot } from './helpers.mjs';

let server;
let b;

before(async () => {
  server = await serve(['--start-stage', 'connect']);
  await advanceTo(server, 'read_only');
  b = await browser();
  await b.page.goto(server.url);
  await b.page.getByTestId('screen-wizard').waitFor();
});

after(async () => {
  await b?.close();
  await server?.stop();
});

test('export, verify, download, then a tampered bundle does not verify', async () => {
  const { page } = b;
  await open(page, 'audit');
  await page.getByTestId('audit-export').click();
  const file = (await page.getByTestId('audit-file').textContent()).trim();
  assert.match(file, /\.zip$/);
  assert.match(await page.getByTestId('audit-checkpoint').textContent(), /\S/);
  assert.match(await page.getByTestId('audit-verify-commands').textContent(), /sha256sum|openssl|bigreach/);
  await page.getByTestId('audit-verify').click();
  const report = page.getByTestId('audit-report');
  await report.waitFor();
  assert.equal(await report.getAttribute('data-ok'), 'true', await report.textContent());
  await shot(page, 'audit');

  const downloading = page.waitForEvent('download');
  await page.getByTestId('audit-download').click();
  const download = await downloading;
  const saved = readFileSync(await download.path());
  const path = (await page.locator('[data-testid=audit-bundle] dd code').first().textContent()).trim();
  const original = readFileSync(path);
  assert.ok(saved.equals(original), 'the download is the bundle');

  const tampered = Buffer.from(original);
  tampered[Math.floor(tampered.length / 2)] ^= 0xff;
  writeFileSync(path, tampered);
  await page.getByTestId('audit-verify').click();
  await page.locator('[data-testid=audit-report][data-ok=false]').waitFor();
});
