// A failing preflight blocks the advance: the twin storefront's CSP blocks the SDK, then the
// API account lacks scopes. Each failing check shows its evidence, fix and runbook.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { advanceTo } from './flows.mjs';
import { browser, open, serve, twin } from './helpers.mjs';

let server;
let b;

before(async () => {
  server = await serve(['--start-stage', 'connect']);
  await advanceTo(server, 'preflight');
  b = await browser();
  await b.page.goto(server.url);
  await b.page.getByTestId('screen-wizard').waitFor();
});

after(async () => {
  await b?.close();
  await server?.stop();
});

async function runPreflight(page) {
  await open(page, 'connection');
  await page.getByTestId('run-preflight').click();
  await page.getByTestId('preflight-verdict').waitFor();
  return page;
}

async function advanceIsBlocked(page, checkId) {
  await open(page, 'wizard');
  const blockers = page.getByTestId('advance-blockers');
  await blockers.waitFor();
  assert.match(await blockers.textContent(), new RegExp(checkId));
  // Nothing can even be typed while a blocking check fails, and the button stays off.
  assert.equal(await page.getByTestId('advance-input').isDisabled(), true);
  assert.equal(await page.getByTestId('advance-button').isDisabled(), true);
  assert.equal(await page.getByTestId('gate-preflight').getAttribute('data-ok'), 'false');
}

test('a storefront CSP that blocks the SDK fails its check and keeps advance off', async () => {
  await twin(server.bigcommerce_control, 'storefront', {
    csp_header: "default-src 'self'; script-src 'self'",
    snippet: true,
  });
  const page = await runPreflight(b.page);
  assert.equal(await page.getByTestId('preflight-verdict').getAttribute('data-passed'), 'false');
  const row = page.getByTestId('preflight-storefront-csp-script-src');
  assert.equal(await row.getAttribute('data-outcome'), 'fail');
  assert.equal(await row.getAttribute('data-severity'), 'block');
  assert.notEqual((await row.getByTestId('fix').textContent()).trim(), '—');
  assert.match(await row.getByTestId('runbook-link').getAttribute('href'), /^#\/runbooks\/preflight\/storefront-csp-script-src$/);
  await advanceIsBlocked(page, 'storefront-csp-script-src');
});

test('an API account without the customer and product scopes fails the scope checks', async () => {
  await twin(server.bigcommerce_control, 'storefront', {});
  await twin(server.bigcommerce_control, 'scopes', { granted: ['store_v2_orders_read_only'] });
  const page = await runPreflight(b.page);
  assert.equal(await page.getByTestId('preflight-verdict').getAttribute('data-passed'), 'false');
  const failing = await page.locator('[data-testid^=preflight-bigcommerce-scope][data-outcome=fail]').count();
  assert.ok(failing >= 1, 'a scope check fails');
  await advanceIsBlocked(page, 'bigcommerce-scope');
});
