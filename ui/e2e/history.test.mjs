// The History screen reads the backfill plan from the BigCommerce twin through the appliance:
// the counts, the calls, the quota and the files, before anything starts. Against an appliance
// in `[history] mode = "imports"` at read_only, the backfill then starts from the screen and
// imports the twin store's history through the Bloomreach twin's Imports API.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { api, browser, confirmWith, open, serve, shot, until } from './helpers.mjs';

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
});

test('the backfill starts from the screen, runs in the appliance and imports the history', async () => {
  const imports = await serve(['--start-stage', 'read_only', '--history', 'imports']);
  const other = await browser();
  try {
    const { page } = other;
    await page.goto(imports.url);
    await open(page, 'history');
    await page.getByTestId('history-none').waitFor();
    await page.getByTestId('plan-read').click();
    await page.getByTestId('backfill-start-button').waitFor();
    assert.equal(await page.getByTestId('backfill-start-button').isDisabled(), true, 'nothing typed yet');
    await confirmWith(page, 'backfill-start', 'backfill');
    await until(
      async () => (await page.getByTestId('history-phase').textContent()) === 'done',
      'the backfill to finish on screen',
      120_000,
    );
    const status = await api(imports, { op: 'backfill_status' });
    assert.equal(status.running, false);
    assert.ok(status.imports.length >= 4, `one import per file: ${JSON.stringify(status.imports)}`);
    for (const run of status.imports) assert.equal(run.state, 'done', JSON.stringify(run));
    assert.equal(await page.getByTestId(`history-import-${status.imports[0].file}`).getAttribute('data-state'), 'done');
    // Finished: nothing is left to start.
    assert.equal(await page.getByTestId('backfill-start-button').count(), 0);
    assert.deepEqual(other.problems, []);
    await shot(page, 'history');
  } finally {
    await other.close();
    await imports.stop();
  }
});
