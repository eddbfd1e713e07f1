// Rollback keeps the queue: with Bloomreach down, trading fills the transactions lane at the
// ingest stage; rolling back to read_only closes it, says what stays queued, and nothing is lost.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { advanceTo, lane } from './flows.mjs';
import { api, browser, open, serve, twin, until } from './helpers.mjs';

let server;
let b;

before(async () => {
  server = await serve(['--start-stage', 'connect']);
  await advanceTo(server, 'ingest');
  b = await browser();
  await b.page.goto(server.url);
  await b.page.getByTestId('screen-wizard').waitFor();
});

after(async () => {
  await b?.close();
  await server?.stop();
});

test('rolling back lists what stays queued and what was already sent, and the queue stays', async () => {
  await twin(server.bloomreach_control, 'faults/bloomreach_outage', { on: true });
  await twin(server.bigcommerce_control, 'crowd', { orders: 12, over_secs: 4 }, 'POST');
  await until(async () => (await lane(server, 'transactions')).queued >= 3, 'purchases queued', 60_000);

  const { page } = b;
  await open(page, 'live');
  await open(page, 'wizard');
  await page.getByTestId('refresh-plan').click();
  const preview = page.getByTestId('rollback-transactions');
  await preview.waitFor();
  assert.match(await page.getByTestId('cannot-undo').textContent(), /Nothing queued is dropped/);
  // Orders are still arriving, so the refreshed plan can land after the typing and clear it (a
  // confirmation never carries over to a plan nobody saw): type again until it holds.
  await until(async () => {
    await page.getByTestId('rollback-input').fill('read_only');
    await page.waitForTimeout(300);
    return page.getByTestId('rollback-button').isEnabled();
  }, 'a rollback confirmed on the plan on screen', 20_000);
  await page.getByTestId('rollback-button').click();
  const done = page.getByTestId('rolled-back');
  await done.waitFor();
  const kept = Number(await done.getByTestId('closed-transactions').getByTestId('queued-kept').textContent());
  assert.ok(kept >= 3, `kept ${kept}`);
  await page.locator('[data-testid=stage-read_only][aria-current=step]').waitFor();

  await twin(server.bloomreach_control, 'faults/bloomreach_outage', { on: false });
  const after = await lane(server, 'transactions');
  assert.equal(after.state, 'closed');
  assert.ok(after.queued >= kept, `queued ${after.queued} after rollback, ${kept} kept`);
  await open(page, 'live');
  const row = page.getByTestId('lane-transactions');
  await until(async () => (await row.getAttribute('data-state')) === 'closed', 'the lane shown closed', 10_000);
  assert.ok(Number(await row.getByTestId('lane-queued').textContent()) >= kept);
  assert.equal((await api(server, { op: 'stage' })).stage, 'read_only');
});
