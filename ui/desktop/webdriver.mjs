// A W3C WebDriver client for the real desktop window: WebKitWebDriver (Debian's
// webkit2gtk-driver) launching the `bigreach-desktop` binary under Xvfb. tauri-driver is not
// needed: it only sets TAURI_WEBVIEW_AUTOMATION and rewrites the capabilities, done here.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const UI = resolve(HERE, '..');
export const ROOT = resolve(UI, '..');
export const SCREENSHOTS = join(UI, 'screenshots');
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

/** A port the system picks (closed again at once, then given to WebKitWebDriver). */
function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

async function until(what, check, ms = 20_000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

/** Resident memory in MiB of the window's process tree: the app and WebKit's helpers. */
/** Every live process as `[pid, parent pid]`, from /proc. */
function processes() {
  const out = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      out.push([Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])]);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export function memoryMiB(rootPid) {
  const children = new Map();
  for (const [pid, ppid] of processes()) {
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(pid);
  }
  const rss = (pid) => {
    try {
      const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
      return line ? Number(line.split(/\s+/)[1]) / 1024 : 0;
    } catch {
      return 0;
    }
  };
  const name = (pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      return '?';
    }
  };
  const out = {};
  const walk = (pid) => {
    out[`${name(pid)}[${pid}]`] = Math.round(rss(pid));
    for (const child of children.get(pid) ?? []) walk(child);
  };
  walk(rootPid);
  return out;
}

/**
 * Starts WebKitWebDriver and a session on the window (`bigreach-desktop window --twins
 * --data-dir D`). Answers the session, with the appliance's local API read from `D`.
 */
export async function launch() {
  const bin = process.env.BIGREACH_DESKTOP_BIN ?? join(ROOT, 'target/debug/bigreach-desktop');
  const dataDir = join(mkdtempSync(join(tmpdir(), 'bigreach-desktop-')), 'data');
  const port = await freePort();
  const driver = spawn('WebKitWebDriver', [`--port=${port}`, '--host=127.0.0.1'], {
    env: { ...process.env, TAURI_WEBVIEW_AUTOMATION: 'true' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let driverLog = '';
  driver.stderr.on('data', (chunk) => {
    driverLog = (driverLog + chunk).slice(-4000);
  });
  const base = `http://127.0.0.1:${port}`;
  const call = async (method, path, body, ms = 30_000) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(ms),
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(`${method} ${path}: ${JSON.stringify(answer.value ?? answer)}`);
    return answer.value;
  };
  await until('WebKitWebDriver', async () => (await fetch(`${base}/status`)).ok, 10_000);
  const launchedAt = Date.now();
  // Without TAURI_WEBVIEW_AUTOMATION a session hangs (stack.md §4): the timeout says so.
  const session = await call('POST', '/session', {
    capabilities: {
      alwaysMatch: {
        'webkitgtk:browserOptions': { binary: bin, args: ['window', '--twins', '--data-dir', dataDir] },
      },
    },
  }, 60_000);
  const sid = session.sessionId;
  const s = (path) => `/session/${sid}${path}`;

  const window = {
    launchedAt,
    dataDir,
    driverLog: () => driverLog,
    exec: (script, args = []) => call('POST', s('/execute/sync'), { script, args }),
    async find(selector, ms = 20_000) {
      const found = await until(selector, async () => {
        const all = await call('POST', s('/elements'), { using: 'css selector', value: selector });
        return all.length ? all[0][ELEMENT] : undefined;
      }, ms);
      return found;
    },
    async text(selector, ms) {
      const id = await this.find(selector, ms);
      return call('GET', s(`/element/${id}/text`));
    },
    async attribute(selector, name) {
      const id = await this.find(selector);
      return call('GET', s(`/element/${id}/attribute/${name}`));
    },
    async click(selector) {
      const id = await this.find(selector);
      await call('POST', s(`/element/${id}/click`), {});
    },
    async type(selector, text) {
      const id = await this.find(selector);
      await call('POST', s(`/element/${id}/clear`), {});
      await call('POST', s(`/element/${id}/value`), { text });
    },
    async count(selector) {
      return (await call('POST', s('/elements'), { using: 'css selector', value: selector })).length;
    },
    until,
    async open(screen) {
      await this.exec(`window.location.hash = '#/${screen}'; return true;`);
      await this.find(`[data-testid=screen-${screen}]`);
    },
    /** The appliance's local API, as `bigreach serve` would answer it. */
    async api(operation) {
      const config = readFileSync(join(dataDir, 'bigreach.toml'), 'utf8');
      const listen = /\[api\][^[]*?listen\s*=\s*"([^"]+)"/s.exec(config)[1];
      const token = readFileSync(join(dataDir, 'api-token'), 'utf8').trim();
      const response = await fetch(`http://${listen}/api/call`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}`, Origin: `http://${listen}` },
        body: JSON.stringify(operation),
      });
      return response.json();
    },
    async screenshot(name) {
      // A picture straight after a change can be stale (stack.md §4): give it a repaint.
      await new Promise((r) => setTimeout(r, 800));
      // WebKitGTK takes the picture at its next rendering update, and a page with nothing
      // moving (under Xvfb, with no compositor) may not have one: keep a pixel changing.
      await this.exec(
        "window.__repaint = setInterval(() => { document.body.style.opacity = document.body.style.opacity === '1' ? '0.999' : '1'; }, 50); return true;",
      );
      try {
        mkdirSync(SCREENSHOTS, { recursive: true });
        writeFileSync(join(SCREENSHOTS, `${name}.png`), Buffer.from(await call('GET', s('/screenshot')), 'base64'));
      } finally {
        await this.exec("clearInterval(window.__repaint); document.body.style.opacity = ''; return true;");
      }
    },
    /** The pid of the window's process (WebKitWebDriver's child). */
    appPid() {
      return processes().find(([, ppid]) => ppid === driver.pid)?.[0];
    },
    async close() {
      try {
        await call('DELETE', s(''), undefined, 15_000);
      } catch {
        // the window may already be gone
      }
      driver.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      if (driver.exitCode === null) driver.kill('SIGKILL');
      rmSync(dirname(dataDir), { recursive: true, force: true });
    },
  };
  return window;
}
