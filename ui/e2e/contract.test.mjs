// The UI's side of the HTTP contract in real headless chromium, against the stand-in in
// contract-server.mjs (no Rust build needed): strict CSP, the token's path from the URL fragment
// to sessionStorage and the Bearer header, SSE live updates, and the wizard's gating.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { contractServer } from './contract-server.mjs';
import { browser, confirmWith, open, shot } from './helpers.mjs';

const TOKEN = 'e2e-token-0123456789';
let server;
let b;

before(async () => {
  server = await contractServer(TOKEN);
  b = await browser();
  await b.page.goto(server.url);
  await b.page.getByTestId('screen-wizard').waitFor();
});

after(async () => {
  await b?.close();
  await server?.close();
});

test('the token moves from the fragment to sessionStorage and every API call carries it', async () => {
  const { page } = b;
  assert.equal(new URL(page.url()).hash, '');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('bigreach.token')), TOKEN);
  assert.ok(!(await page.content()).includes(TOKEN), 'the token is not in the page');
  await page.getByTestId('stage-preflight').waitFor();
  assert.ok(server.seen.length >= 3);
  assert.ok(server.seen.every((r) => r.auth === `Bearer ${TOKEN}`));
  assert.ok(server.seen.some((r) => r.path === '/api/events'));
});

test('the page runs under the strict CSP with no violation or console error', async () => {
  await open(b.page, 'live');
  await b.page.getByTestId('lane-transactions').waitFor();
  assert.deepEqual(b.problems, []);
});

test('live figures update from the event stream, and each chart has its numbers in a table', async () => {
  const { page } = b;
  await open(page, 'live');
  const rows = page.getByTestId('chart-throughput-table').locator('tbody tr');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=chart-throughput-table] tbody tr').length >= 3);
  assert.ok((await rows.count()) >= 3);
  const cells = await rows.first().locator('td').allTextContents();
  assert.equal(cells[0], '37', 'delivered/s: the stand-in adds 37 per status second');
  assert.equal(await page.getByTestId('lane-transactions').getAttribute('data-state'), 'closed');
  assert.match(await page.getByTestId('lane-transactions').getByTestId('lane-state').textContent(), /Closed/);
});

test('advance is bound to the typed stage name and the plan', async () => {
  const { page } = b;
  await open(page, 'wizard');
  const button = page.getByTestId('advance-button');
  assert.equal(await button.isDisabled(), true);
  await page.getByTestId('advance-input').fill('ingest');
  assert.equal(await button.isDisabled(), true);
  await confirmWith(page, 'advance', 'read_only');
  await page.getByTestId('advanced').waitFor();
  await page.locator('[data-testid=stage-read_only][aria-current=step]').waitFor();
});

// Screenshots for the README when no Rust build is at hand; the e2e run against the real
// `bigreach serve --twins` overwrites them (SCREENSHOTS=contract keeps them from this run only).
if (process.env.SCREENSHOTS === 'contract') test('screenshots of the main screens', async () => {
  const { page } = b;
  await open(page, 'wizard');
  await page.getByTestId('plan').waitFor();
  await shot(page, 'wizard');
  await open(page, 'connection');
  await page.getByTestId('run-preflight').click();
  await page.getByTestId('preflight-verdict').waitFor();
  await shot(page, 'connection');
  await open(page, 'live');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=chart-latency-table] tbody tr').length >= 8);
  await shot(page, 'live');
  await open(page, 'trace');
  await page.getByTestId('trace-query').fill('jane@shop.com');
  await page.getByTestId('trace-search').click();
  await page.getByTestId('trace-verdict').waitFor();
  await shot(page, 'trace');
  await open(page, 'dead-letters');
  await page.getByTestId('dl-select-group-rejected_command').check();
  await page.getByTestId('dl-select-group-invalid_payload').check();
  await page.getByTestId('preview-replay').click();
  await page.getByTestId('dl-preview').waitFor();
  await shot(page, 'dead-letters');
  await open(page, 'reconcile');
  await page.getByTestId('rec-from').fill('2026-12-01');
  await page.getByTestId('rec-to').fill('2026-12-02');
  await page.getByTestId('rec-run').click();
  await page.getByTestId('rec-verdict').waitFor();
  await shot(page, 'reconciliation');
  await open(page, 'audit');
  await page.getByTestId('audit-export').click();
  await page.getByTestId('audit-verify').click();
  await page.getByTestId('audit-report').waitFor();
  await shot(page, 'audit');
  await open(page, 'rehearsal');
  await page.getByTestId('rehearse-cutover').click();
  await page.getByTestId('rehearsal-verdict').waitFor();
  await shot(page, 'rehearsal');
});
