// A 429 storm (the Bloomreach twin's rate limit fault) while the ingest stage runs trips the
// rate_limited check, and the wizard says why: check, value, threshold and window.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { advanceTo } from './flows.mjs';
import { api, browser, open, serve, shot, twin, until } from './helpers.mjs';

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

test('the storm falls back (or holds) and the screen names the check with its figures', async () => {
  await twin(server.bloomreach_control, 'faults/bloomreach_rate_limit', { on: true, requests_per_minute: 1 });
  await twin(server.bigcommerce_control, 'crowd', { orders: 80, new_customers: 10, over_secs: 30 }, 'POST');
  const stopped = await until(
    async () => {
      const stage = await api(server, { op: 'stage' });
      const stop = stage.last_transitions.find((t) => t.kind === 'fall_back' || t.kind === 'hold');
      return stop && stop.detail?.check === 'rate_limited' ? stop : stage.hold?.check === 'rate_limited' ? stage.hold : null;
    },
    'the rate_limited check to stop the stage',
    180_000,
    1000,
  );
  const { page } = b;
  await open(page, 'live');
  await open(page, 'wizard');
  if (stopped.kind === 'fall_back' || stopped.kind === 'hold') {
    const stop = page.getByTestId('why-stopped').getByTestId('stop').first();
    await stop.waitFor();
    assert.equal(await stop.getByTestId('stop-check').textContent(), 'rate_limited');
    assert.notEqual(await stop.getByTestId('stop-value').textContent(), '—');
    assert.notEqual(await stop.getByTestId('stop-threshold').textContent(), '—');
    assert.match(await stop.getByTestId('stop-window').textContent(), /^\d+ s$/);
  }
  if ((await api(server, { op: 'stage' })).hold) {
    assert.match(await page.getByTestId('hold').textContent(), /rate_limited/);
  }
  const results = page.getByTestId('check-rate_limited');
  if (await results.count()) assert.notEqual(await results.getAttribute('data-outcome'), 'pass');
  await shot(page, 'why-stopped');
});
