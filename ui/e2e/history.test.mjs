// The History screen reads the backfill plan from the BigCommerce twin through the appliance:
// the counts, the calls, the quota and the files, before anything starts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { api, browser, open, serve, shot } from './helpers.mjs';

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

test('the plan shows what the backfill would cost against the store quota', async () => {
  const { page } = b;
  await open(page, 'history');
  await page.getByTestId('plan-read').click();
  const calls = page.getByTestId('plan-calls');
  await calls.waitFor();
  // The same plan through the API, to compare the screen with.
  const plan = await api(server, { op: 'backfill_plan', since: null });
  assert.ok(plan.input.counts.orders > 0, 'the twin store has history');
  assert.equal(
    (await calls.textContent()).split(' ')[0],
    plan.api_calls.toLocaleString('en-US'),
  );
  assert.match(await page.getByTestId('plan-quota').textContent(), /requests \/ 30 s/);
  assert.match(
    await page.getByTestId('plan-file-purchases').textContent(),
    new RegExp(plan.input.counts.orders.toLocaleString('en-US')),
  );
  await shot(page, 'history');
});
