// A stand-in for `bigreach serve`'s HTTP surface, for the UI-only browser test: it serves
// ui/dist with the server's exact CSP, answers POST /api/call from the Rust side's JSON
// snapshots (crates/core/src/app/snapshots) and streams GET /api/events as SSE, refusing any
// /api/ request without the Bearer token. It checks the UI's side of the contract in a real
// browser without a Rust build; the real server is tested by the other e2e files.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { ROOT, UI } from './helpers.mjs';

export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

const SNAPSHOTS = join(ROOT, 'crates/core/src/app/snapshots');
export function snapshot(name) {
  const text = readFileSync(join(SNAPSHOTS, `bigreach_core__app__${name}.snap`), 'utf8');
  return JSON.parse(text.replace(/^---\n[\s\S]*?\n---\n/, ''));
}

class Refusal {
  constructor(status, body) {
    this.status = status;
    this.body = body;
  }
}
const refuse = (status, body) => new Refusal(status, body);

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.png': 'image/png', '.svg': 'image/svg+xml' };

/** The canned appliance: a cutover at `preflight`, a few dead letters, a moving status. */
function appliance() {
  let stageName = 'preflight';
  let tick = 0;
  const order = ['connect', 'preflight', 'read_only', 'ingest', 'triggers'];
  const baseStage = snapshot('cutover__tests__stage');
  const basePlan = snapshot('cutover__tests__stage_plan');
  const letters = snapshot('tests__dead_letters');
  const extra = structuredClone(letters[0]);
  extra.id = 8;
  extra.fact = 'customer:77';
  extra.lane = 'customers';
  extra.destination = 'customers';
  extra.person = 'customer:77';
  extra.reason_class = 'invalid_payload';
  extra.reason = 'rejected by Bloomreach: Value of property \'company\' is too large (limit is 16 KB).';
  extra.payload = { customer_ids: { registered: '77' }, properties: { company: 'Acme Industrial Supplies…' } };
  letters.push(extra);
  const stage = () => {
    const s = structuredClone(baseStage);
    s.stage = stageName;
    s.stages = s.stages.map((info) => ({ ...info, current: info.stage === stageName }));
    s.lanes_open = s.stages.find((i) => i.current).lanes;
    s.ceiling_percent = s.stages.find((i) => i.current).ceiling_percent;
    return s;
  };
  const plan = () => {
    const p = structuredClone(basePlan);
    const i = order.indexOf(stageName);
    p.advance.from = stageName;
    p.advance.to = order[i + 1] ?? null;
    p.advance.lanes = p.advance.lanes.map((l) => (l.lane === 'transactions' ? { ...l, queued: 128, oldest_age_ms: 42_000 } : l));
    p.rollback = i === 0 ? null : { ...p.rollback, from: stageName, to: order[i - 1] };
    return p;
  };
  const status = () => {
    tick += 1;
    const s = snapshot('tests__status');
    s.at = new Date(Date.UTC(2026, 11, 3, 12, 0, tick)).toISOString();
    s.stage = stageName;
    s.metrics.delivered = 1200 + tick * 37;
    s.metrics.bloomreach_429s = Math.floor(tick / 3);
    s.lanes = s.lanes.map((l) =>
      l.lane === 'transactions'
        ? { ...l, queued: 120 + (tick % 9), oldest_age_ms: 42_000, state: 'closed' }
        : l.lane === 'customers'
          ? { ...l, queued: 14 + (tick % 4), oldest_age_ms: 3_000 + (tick % 5) * 400, state: 'on_time' }
          : l,
    );
    s.purchase_latency = { ...s.purchase_latency, p50_ms: 1100 + (tick % 7) * 60, p99_ms: 85_000 + (tick % 5) * 4000 };
    return s;
  };
  const answers = {
    status,
    stage,
    stage_plan: plan,
    advance: (op) => {
      const p = plan();
      if (op.plan_hash !== p.advance.plan_hash) return refuse(409, { code: 'plan_moved', message: 'the store moved on since the plan was shown' });
      const from = stageName;
      stageName = p.advance.to;
      return { from, to: stageName, plan_hash: op.plan_hash, at: new Date().toISOString(), lanes_opened: [], starts_flowing: 0, ceiling_percent: 50 };
    },
    preflight: () => snapshot('preflight__tests__preflight_report'),
    runbooks: () => [
      {
        id: 'errors', title: 'Errors', audience: 'everyone', anchors: ['code-plan-moved'],
        html: '<h2 id="code-plan-moved">The store moved on since the plan was shown</h2>\n<p>Review the new plan.</p>\n',
      },
    ],
    error_runbooks: () => ({ links: { 'code.plan_moved': 'errors#code-plan-moved' } }),
    connection: () => ({
      configured: true, config_path: '/etc/bigreach/bigreach.toml', store_hash: 'demo42',
      bigcommerce_api_root: 'https://api.bigcommerce.com/stores/demo42/', bloomreach_base_url: 'https://api.eu1.exponea.com',
      project_token: 'demo-project', key_id: 'demo-key', webhook_public_url: 'https://hooks.shop.example/bigreach',
      data_dir: '/var/lib/bigreach',
      secrets: [
        { field: 'bigcommerce.access_token', reference: 'env:BIGREACH_BIGCOMMERCE_ACCESS_TOKEN', present: true },
        { field: 'bloomreach.api_secret', reference: 'env:BIGREACH_BLOOMREACH_API_SECRET', present: true },
        { field: 'webhooks.secret', reference: 'env:BIGREACH_WEBHOOK_SECRET', present: false },
      ],
    }),
    trace: () => snapshot('tests__trace'),
    reconcile: (op) => {
      const row = (day, currency, missing, difference) => ({
        day, currency, bigcommerce_orders: 41, bigcommerce_gross: '3120.40', bigcommerce_discounts: '112.00',
        bigcommerce_tax: '498.21', bigcommerce_shipping: '205.00', bigcommerce_refunds: '84.90',
        bigcommerce_net: '3035.50', bigcommerce_cancelled: 1, bigcommerce_unpaid: 3, bloomreach_orders: 41 - missing,
        bloomreach_gross: (3120.4 - Number(difference)).toFixed(2), bloomreach_refunds: '84.90',
        bloomreach_net: (3035.5 - Number(difference)).toFixed(2), bloomreach_cancelled: 1, matched: 41 - missing,
        missing, extra: 0, duplicate: 0, amount_mismatch: 0, difference,
      });
      return {
        range: { from: op.from, to: op.to }, time_zone: 'Europe/Berlin', generated_at: '2026-12-03T12:00:00Z',
        rows: [row(op.from, 'EUR', 0, '0.00'), row(op.to, 'EUR', 1, '74.90'), row(op.to, 'GBP', 0, '0.00')],
        totals: [row(null, 'EUR', 1, '74.90'), row(null, 'GBP', 0, '0.00')],
        findings: [{ subject: 'sale', class: 'missing', order_id: 5188, refund_id: null, day: op.to, currency: 'EUR',
          bigcommerce_amount: '74.90', bloomreach_amount: null, acknowledged: 0, note: 'a dead letter (#8): replay it, or repair' }],
        balanced: false, repair: null,
      };
    },
    audit_exports: () => [{ file_name: 'bigreach-audit-20261203T120000Z.zip', bytes: 48213, modified: '2026-12-03T12:00:00Z' }],
    audit_export: () => ({
      file_name: 'bigreach-audit-20261203T120000Z.zip', path: '/var/lib/bigreach/exports/bigreach-audit-20261203T120000Z.zip',
      bytes: 48213, entries: 311, in_period: 311, root: 'b1f0c2a9e4d3…', key_fingerprint: 'SHA256:9f2c1e7a…', consistent_with: 287,
      checkpoint: 'bigreach.local/audit/demo42\n311\nsfDCqeTT8LyDEh5eBf7vj2ZlbX0S7bHAkHrGgzQ8hbQ=\n\n— bigreach.local/audit/demo42 AcU1v…',
      verify: ['unzip bigreach-audit-20261203T120000Z.zip -d bundle && cd bundle', 'sha256sum -c --strict manifest-sha256.txt',
        'openssl pkeyutl -verify -pubin -inkey audit-key.pub.pem -rawin -in checkpoint.body -sigfile checkpoint.sig', 'bigreach verify bigreach-audit-20261203T120000Z.zip'],
    }),
    audit_verify: (op) => ({ file_name: op.file_name, ok: true, files: 9, entries: 311, root: 'b1f0c2a9e4d3…', key_fingerprint: 'SHA256:9f2c1e7a…', consistent_with: 287, failure: null }),
    rehearse: (op) => ({
      kind: op.kind, passed: true, seconds: 38.4,
      summary: 'the cutover advanced through every stage, rolled back and advanced again; nothing queued was lost',
      lines: ['connect → preflight: ok', 'preflight passed (15 checks)', 'preflight → read_only: 812 profiles, 240 catalog items',
        'read_only → ingest: 96 purchases, p99 2.1 s', 'ingest → read_only (rollback): 12 queued kept', 'read_only → ingest: 12 delivered, 0 duplicates',
        'ingest → triggers: ok'],
    }),
    dead_letters: () => letters,
    replay_dead_letters: (op) => ({ preview: op.preview, letters: letters.filter((l) => op.ids.includes(l.id)), changed: op.preview ? 0 : op.ids.length }),
  };
  return { answers, status };
}

/** Starts the stand-in on 127.0.0.1 (OS-picked port); `seen` records each /api request's auth. */
export async function contractServer(token) {
  const { answers, status } = appliance();
  const seen = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const headers = { 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff' };
    if (url.pathname.startsWith('/api/')) {
      seen.push({ path: url.pathname, auth: req.headers.authorization ?? null });
      if (req.headers.authorization !== `Bearer ${token}`) {
        res.writeHead(401, { ...headers, 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ code: 'unauthorized', message: 'no token' }));
        return;
      }
      if (url.pathname === '/api/events') {
        res.writeHead(200, { ...headers, 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store' });
        const send = () => res.write(`event: status\ndata: ${JSON.stringify(status())}\n\n`);
        send();
        const timer = setInterval(send, 250);
        req.on('close', () => clearInterval(timer));
        return;
      }
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const op = JSON.parse(body);
        const handler = answers[op.op];
        const out = handler ? handler(op) : refuse(400, { code: 'bad_request', message: `unknown op ${op.op}` });
        const [code, json] = out instanceof Refusal ? [out.status, out.body] : [200, out];
        res.writeHead(code, { ...headers, 'Content-Type': 'application/json' });
        res.end(JSON.stringify(json));
      });
      return;
    }
    const path = normalize(url.pathname === '/' ? '/index.html' : url.pathname).replace(/^(\.\.[/\\])+/, '');
    try {
      const file = readFileSync(join(UI, 'dist', path));
      res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(path)] ?? 'application/octet-stream' });
      res.end(file);
    } catch {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/html' });
      res.end(readFileSync(join(UI, 'dist', 'index.html')));
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/#token=${token}`,
    seen,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}
