// The real-window smoke suite: the desktop binary in a real WebKitGTK window under Xvfb, driven
// through WebDriver (scripts/desktop.sh smoke). The window runs on the twins, so every click
// goes page → Tauri IPC → the in-process app API → the store, and is checked on both ends.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launch, memoryMiB } from './webdriver.mjs';

let w;

before(async () => {
  w = await launch();
});

after(async () => {
  await w?.close();
});

test('the window boots into the cutover wizard, with the live status over IPC', async () => {
  await w.find('[data-testid=screen-wizard]', 30_000);
  await w.find('[data-testid=stage-connect][aria-current=step]');
  await w.until(
    'the status line from the channel',
    async () => /Stage\s+Connect/.test(await w.text('[data-testid=status-line]')),
  );
  // The window's own page over Tauri's protocol, not the loopback HTTP API.
  assert.equal(await w.exec('return window.location.protocol'), 'tauri:');
  assert.equal(await w.exec("return '__TAURI_INTERNALS__' in window"), true);
  assert.equal(await w.count('[data-testid=open-in-browser]'), 1, 'the window offers the browser');
  const paint = await w.exec(
    "const p = performance.getEntriesByType('paint'); const e = p.find((x) => x.name === 'first-contentful-paint') ?? p[0]; return e ? performance.timeOrigin + e.startTime : null;",
  );
  if (paint) console.log(`# first paint: ${Math.round(paint - w.launchedAt)} ms after launch`);
  await w.screenshot('desktop-wizard');
});

test('one advance and one rollback, each confirmed by typing the stage', async () => {
  await w.find('[data-testid=plan]');
  assert.equal(await w.attribute('[data-testid=advance-button]', 'disabled'), 'true', 'nothing typed yet');
  await w.type('[data-testid=advance-input]', 'preflight');
  await w.click('[data-testid=advance-button]');
  await w.find('[data-testid=advanced]');
  await w.find('[data-testid=stage-preflight][aria-current=step]');
  assert.equal((await w.api({ op: 'stage' })).stage, 'preflight');

  await w.find('[data-testid=rollback]');
  await w.type('[data-testid=rollback-input]', 'connect');
  await w.click('[data-testid=rollback-button]');
  await w.find('[data-testid=rolled-back]');
  await w.find('[data-testid=stage-connect][aria-current=step]');
  assert.equal((await w.api({ op: 'stage' })).stage, 'connect');
});

test('a live chart with its numbers in a table beside it', async () => {
  await w.open('live');
  await w.find('[data-testid=chart-throughput] canvas');
  await w.until(
    '5 live samples in the table',
    async () => (await w.count('[data-testid=chart-throughput-table] tbody tr')) >= 5,
    30_000,
  );
  const first = await w.text('[data-testid=chart-throughput-table] tbody tr');
  assert.match(first, /\d/, 'a row of numbers');
  await w.screenshot('desktop-live');
  const memory = memoryMiB(w.appPid());
  const total = Object.values(memory).reduce((a, b) => a + b, 0);
  console.log(`# memory with the window open (RSS, MiB): ${total} in all, ${JSON.stringify(memory)}`);
});
