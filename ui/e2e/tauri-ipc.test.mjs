// The same build inside a (mocked) Tauri window, in headless chromium: with
// `window.__TAURI_INTERNALS__` present the UI talks IPC only — `invoke('api', {operation})`,
// `subscribe_status` over a Channel, `open_in_browser` — and never the HTTP API (stack.md §6).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { contractServer, snapshot } from './contract-server.mjs';
import { browser, confirmWith, open } from './helpers.mjs';

let server;
let b;

before(async () => {
  server = await contractServer('unused');
  b = await browser();
  const fixtures = {
    stage: snapshot('cutover__tests__stage'),
    plan: snapshot('cutover__tests__stage_plan'),
    status: snapshot('tests__status'),
  };
  await b.page.addInitScript((data) => {
    const stage = structuredClone(data.stage);
    stage.stage = 'preflight';
    stage.stages = stage.stages.map((s) => ({ ...s, current: s.stage === 'preflight' }));
    const ipc = {
      calls: [],
      callbacks: {},
      next: 1,
      transformCallback(callback) {
        const id = this.next++;
        this.callbacks[id] = callback;
        return id;
      },
      unregisterCallback(id) {
        delete this.callbacks[id];
      },
      async invoke(cmd, args) {
        this.calls.push(cmd === 'api' ? `api:${args.operation.op}` : cmd);
        if (cmd === 'open_in_browser') return null;
        if (cmd === 'subscribe_status') {
          let index = 0;
          const send = () => this.callbacks[args.onStatus.id]?.({ index: index++, message: data.status });
          send();
          setInterval(send, 300);
          return null;
        }
        const op = args.operation;
        if (op.op === 'stage') return stage;
        if (op.op === 'stage_plan') return data.plan;
        if (op.op === 'advance') throw { code: 'preflight_stale', message: 'the newest preflight is too old; run it again' };
        throw { code: 'bad_request', message: `no ${op.op} in this mock` };
      },
    };
    window.__TAURI_INTERNALS__ = ipc;
  }, fixtures);
  await b.page.goto(server.url.replace(/#.*$/, ''));
  await b.page.getByTestId('screen-wizard').waitFor();
});

after(async () => {
  await b?.close();
  await server?.close();
});

const calls = () => b.page.evaluate(() => window.__TAURI_INTERNALS__.calls);

test('operations go through invoke, live status through a Channel, and no HTTP API call is made', async () => {
  const { page } = b;
  await page.getByTestId('stage-preflight').waitFor();
  await page.waitForFunction(() => document.querySelector('[data-testid=status-line]')?.textContent?.includes('Production triggers'));
  const seen = await calls();
  assert.ok(seen.includes('api:stage') && seen.includes('api:stage_plan') && seen.includes('subscribe_status'), seen.join(' '));
  assert.deepEqual(server.seen, [], 'no /api/ request over HTTP');
  assert.deepEqual(b.problems, []);
});

test('a refusal arrives as the AppError object and shows its code', async () => {
  const { page } = b;
  await open(page, 'wizard');
  await confirmWith(page, 'advance', 'read_only');
  const error = page.getByTestId('action-error');
  await error.waitFor();
  assert.equal(await error.getAttribute('data-code'), 'preflight_stale');
  assert.ok((await calls()).includes('api:advance'));
});

test('"Open in browser" is offered in the window and asks the shell', async () => {
  await b.page.getByTestId('open-in-browser').click();
  await b.page.waitForFunction(() => window.__TAURI_INTERNALS__.calls.includes('open_in_browser'));
});
