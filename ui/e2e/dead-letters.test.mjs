// A customer whose company name is over Bloomreach's 16 KB value limit becomes a dead letter;
// the trace ends in a verdict about it, and the dead-letter screen replays it in bulk after a
// preview of exactly what goes out.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { advanceTo } from './flows.mjs';
import { api, bigcommerce, browser, open, serve, shot, until } from './helpers.mjs';

const EMAIL = 'very.large.company@example.com';
let server;
let b;
let letter;

before(async () => {
  server = await serve(['--start-stage', 'connect']);
  await advanceTo(server, 'read_only');
  await bigcommerce(server, 'POST', 'v3/customers', [
    { email: EMAIL, first_name: 'Vera', last_name: 'Large', company: `Large ${'x'.repeat(17 * 1024)}` },
  ]);
  letter = await until(
    async () => (await api(server, { op: 'dead_letters' })).find((l) => l.payload && JSON.stringify(l.payload).includes('Large xxx')),
    'the oversized profile to become a dead letter',
    90_000,
    500,
  );
  b = await browser();
  await b.page.goto(server.url);
  await b.page.getByTestId('screen-wizard').waitFor();
});

after(async () => {
  await b?.close();
  await server?.stop();
});

test('the trace of that person ends in the verdict', async () => {
  const { page } = b;
  await open(page, 'trace');
  await page.getByTestId('trace-query').fill(EMAIL);
  await page.getByTestId('trace-search').click();
  const verdict = page.getByTestId('trace-verdict');
  await verdict.waitFor();
  assert.equal(await verdict.getAttribute('data-kind'), 'failed');
  assert.ok((await page.getByTestId('trace-verdict-summary').textContent()).length > 10);
  assert.equal(await page.getByTestId(`trace-command-${letter.id}`).getAttribute('data-state'), 'dead');
  await shot(page, 'trace');
});

test('bulk replay previews exactly what goes out, then replays it', async () => {
  const { page } = b;
  await open(page, 'dead-letters');
  const group = page.getByTestId(`dl-group-${letter.reason_class}`);
  await group.waitFor();
  await page.getByTestId(`dl-select-group-${letter.reason_class}`).check();
  await page.getByTestId('preview-replay').click();
  const preview = page.getByTestId('dl-preview');
  await preview.waitFor();
  const shown = page.getByTestId(`preview-${letter.id}`);
  assert.match(await shown.locator('pre').textContent(), /Large xxx/);
  const count = await preview.locator('.preview-letter').count();
  await shot(page, 'dead-letters');
  await page.getByTestId('dl-confirm').click();
  const done = page.getByTestId('dl-done');
  await done.waitFor();
  assert.match(await done.textContent(), new RegExp(`Replayed ${count} `));
  // Replayed: back in its lane with a fresh retry budget (it may fail again: the cause is unfixed).
  const replayed = (await api(server, { op: 'trace', query: EMAIL })).commands.find((c) => c.id === letter.id);
  assert.ok(replayed.state === 'pending' || replayed.attempts <= letter.attempts, JSON.stringify(replayed));
});
