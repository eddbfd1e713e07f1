// Shared by the browser end-to-end tests: one `bigreach serve --twins --json` per test file,
// headless Debian chromium through playwright-core, the twins' control API, screenshots.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
export const UI = resolve(HERE, '..');
export const ROOT = resolve(UI, '..');
export const SCREENSHOTS = join(UI, 'screenshots');

/** The twins' simulator credentials (crates/harness/src/twins.rs `credentials`): not secrets. */
export const TWIN = { storeHash: 'demo42', bcToken: 'twin-bigcommerce-token' };

/** The flags stack.md §6 measured with Debian's chromium. */
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];

/** The `bigreach serve --twins --json` command for a data directory. */
export function serveCommand(dataDir, extra = []) {
  const bin = process.env.BIGREACH_BIN ?? join(ROOT, 'target/debug/bigreach');
  return [bin, ['serve', '--twins', '--json', '--data-dir', dataDir, ...extra]];
}

/**
 * Starts the appliance on the twins and waits for its one JSON line:
 * `{url, api, token, data_dir, bigcommerce_control, bloomreach_control, storefront}`.
 */
export async function serve(extra = ['--start-stage', 'connect']) {
  const dataDir = mkdtempSync(join(tmpdir(), 'bigreach-e2e-'));
  const [bin, args] = serveCommand(join(dataDir, 'data'), extra);
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-8000);
  });
  const line = await new Promise((resolveLine, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not print its JSON line in 60 s:\n${stderr}`)), 60_000);
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (text) => {
      clearTimeout(timer);
      resolveLine(text);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code}) before it was ready:\n${stderr}`));
    });
  });
  const info = JSON.parse(line);
  const bcBase = info.bigcommerce_control.replace(/_twin\/?$/, '');
  return {
    ...info,
    bcApi: `${bcBase}stores/${TWIN.storeHash}/`,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** One operation over the local API, as the UI sends it (a write carries the page's Origin). */
export async function api(server, operation) {
  const response = await fetch(`${server.api}/api/call`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${server.token}`, Origin: server.api },
    body: JSON.stringify(operation),
  });
  const body = await response.json();
  if (!response.ok) throw Object.assign(new Error(`${body.code}: ${body.message}`), body);
  return body;
}

/** A twin control call, e.g. `twin(server.bloomreach_control, 'faults/bloomreach_rate_limit', {on: true})`. */
export async function twin(control, path, body, method = 'PUT') {
  const response = await fetch(`${control.replace(/\/?$/, '/')}${path}`, {
    method,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`twin ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

/** A BigCommerce REST call to the twin store (as a merchant's other tools would make it). */
export async function bigcommerce(server, method, path, body) {
  const response = await fetch(`${server.bcApi}${path}`, {
    method,
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-Auth-Token': TWIN.bcToken },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`BigCommerce ${method} ${path}: ${response.status} ${await response.text()}`);
  return response.status === 204 ? null : response.json();
}

/** Polls `probe` until it returns a truthy value. */
export async function until(probe, what, timeoutMs = 60_000, everyMs = 250) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Headless chromium; the page records CSP violations and console errors for the test to assert. */
export async function browser() {
  const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
  const instance = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
  const context = await instance.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(String(error)));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return { instance, page, problems, close: () => instance.close() };
}

/** Opens a screen by its route (the token is already in sessionStorage after the first load). */
export async function open(page, screen) {
  await page.evaluate((s) => {
    window.location.hash = `#/${s}`;
  }, screen);
  await page.getByTestId(`screen-${screen}`).waitFor();
}

/** Types a stage name into a typed confirmation and presses its button. */
export async function confirmWith(page, id, phrase) {
  await page.getByTestId(`${id}-input`).fill(phrase);
  await page.getByTestId(`${id}-button`).click();
}

/** A full-page screenshot for the README (ui/screenshots/NAME.png). */
export async function shot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
