// The cutover wizard's happy path against `bigreach serve --twins`: connect → preflight →
// read_only → ingest → triggers, each advance typed and bound to the plan on screen.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { api, browser, confirmWith, open, serve, shot, twin, until } from './helpers.mjs';

let server;
let b;

before(async () => {
  server = await serve(['--start-stage', 'connect']);
  b = await browser();
  await b.page.goto(server.url);
  await b.page.getByTestId('screen-wizard').waitFor();
});

after(async () => {
  await b?.close();
  await server?.stop();
});

async function advanceInUi(page, to) {
  await page.getByTestId('plan').waitFor();
  // The plan for this advance is on screen (not the one before it, still loading).
  await until(async () => (await page.getByTestId('advance-phrase').textContent()) === to, `the plan to ${to}`, 10_000);
  assert.equal(await page.getByTestId('advance-button').isDisabled(), true, 'nothing typed yet');
  await confirmWith(page, 'advance', to);
  await page.getByTestId('advanced').waitFor();
  await page.locator(`[data-testid=stage-${to}][aria-current=step]`).waitFor();
}

test('the token leaves the URL, and the page runs under the server CSP without errors', async () => {
  assert.equal(new URL(b.page.url()).hash.includes('token'), false);
  await b.page.locator('[data-testid=stage-connect][aria-current=step]').waitFor();
  assert.deepEqual(b.problems, []);
});

test('connect → preflight → read_only → ingest → triggers, with a passing preflight on the way', async () => {
  const { page } = b;
  await advanceInUi(page, 'preflight');

  await open(page, 'connection');
  await page.getByTestId('run-preflight').click();
  const verdict = page.getByTestId('preflight-verdict');
  await verdict.waitFor();
  assert.equal(await verdict.getAttribute('data-passed'), 'true', await page.getByTestId('preflight-checks').textContent());
  await shot(page, 'connection');

  await open(page, 'wizard');
  await page.locator('[data-testid=gate-preflight][data-ok=true]').waitFor();
  assert.match(await page.getByTestId('next-opens').textContent(), /Opens customers, catalog, backfill/);
  await shot(page, 'wizard');
  await advanceInUi(page, 'read_only');
  await advanceInUi(page, 'ingest');
  await advanceInUi(page, 'triggers');
  assert.equal((await api(server, { op: 'stage' })).stage, 'triggers');
  assert.equal(await page.getByTestId('advance-button').isDisabled(), true, 'nothing after the last stage');
});

test('live lanes, latency and throughput fill in from the event stream while shoppers trade', async () => {
  const { page } = b;
  await twin(server.bigcommerce_control, 'crowd', { orders: 30, new_customers: 5, over_secs: 15 }, 'POST');
  await open(page, 'live');
  await until(async () => Number(await page.getByTestId('chart-throughput-table').locator('tbody tr').count()) >= 10, '10 live samples', 30_000);
  await until(async () => (await api(server, { op: 'status' })).metrics.delivered > 0, 'deliveries', 60_000);
  await until(
    async () => (await page.getByTestId('latency').textContent()).includes('p99'),
    'a purchase latency on screen',
    60_000,
  );
  for (const lane of ['transactions', 'customers', 'carts', 'catalog', 'backfill', 'triggers']) {
    const state = await page.getByTestId(`lane-${lane}`).getAttribute('data-state');
    assert.ok(['idle', 'on_time', 'late', 'stalled', 'closed'].includes(state), `${lane}: ${state}`);
  }
  await shot(page, 'live');
});
