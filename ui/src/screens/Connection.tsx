import { createResource, createSignal, For, Show } from 'solid-js';
import type { PreflightReport } from '../api/types';
import { ErrorNote } from '../components/ErrorNote';
import { useApp } from '../context';
import { shortHash, utc } from '../view/format';
import { runbookRoute } from '../view/runbooks';

const OUTCOME_LABEL = { pass: 'PASS', fail: 'FAIL', inconclusive: 'INCONCLUSIVE' } as const;
const SEVERITY_LABEL = { block: 'Blocking', warn: 'Warning' } as const;

/** What the appliance is connected to (the `connection` operation). */
function ConnectionFacts() {
  const app = useApp();
  const [connection] = createResource(() => app.client.call({ op: 'connection' }));
  return (
    <div class="panel" data-testid="connection">
      <h2>Connected to</h2>
      <Show when={connection.error}>
        <ErrorNote error={connection.error} />
      </Show>
      <Show when={connection()}>
        {(c) => (
          <>
            <dl class="facts">
              <dt>Config</dt><dd>{c().config_path ?? '—'}</dd>
              <dt>BigCommerce store</dt><dd>{c().store_hash ?? '—'}</dd>
              <dt>BigCommerce API</dt><dd>{c().bigcommerce_api ?? '—'}</dd>
              <dt>Bloomreach API</dt><dd>{c().bloomreach_api ?? '—'}</dd>
              <dt>Bloomreach project</dt><dd>{c().bloomreach_project ?? '—'}</dd>
            </dl>
            <table data-testid="secrets">
              <thead><tr><th>secret</th><th>reference</th><th>resolves</th></tr></thead>
              <tbody>
                <For each={c().secrets}>
                  {(s) => (
                    <tr>
                      <td>{s.name}</td>
                      <td><code>{s.reference}</code></td>
                      <td class={s.resolves ? 'outcome pass' : 'outcome fail'}>{s.resolves ? 'yes' : 'NO'}</td>
                    </tr>
                  )}
                </For>
              </tbody>
            </table>
          </>
        )}
      </Show>
    </div>
  );
}

/** What the status tells about the connection when the `connection` operation is not there. */
function StatusFacts() {
  const app = useApp();
  return (
    <div class="panel" data-testid="connection-status">
      <h2>Appliance</h2>
      <Show when={app.status()} fallback={<p>Waiting for the first status…</p>}>
        {(s) => (
          <>
            <dl class="facts">
              <dt>Local API</dt><dd>{s().api_address}</dd>
              <dt>Webhook receiver</dt><dd>{s().webhook_address}</dd>
              <dt>Stage</dt><dd>{s().stage}</dd>
            </dl>
            <For each={s().starting}>
              {(st) => (
                <p class="warning" role="status">
                  Still reaching {st.service} (for {st.waiting}): {st.reason}, {st.attempts} attempts since {utc(st.since)}.
                </p>
              )}
            </For>
            <For each={s().parked}>
              {(p) => (
                <p class="warning" role="status">
                  {p.component} is parked since {utc(p.since)}: {p.reason}. Fix: {p.hint}
                </p>
              )}
            </For>
          </>
        )}
      </Show>
    </div>
  );
}

/** The preflight report, one row per check with its evidence, the exact fix and the runbook. */
export function PreflightTable(props: { report: PreflightReport }) {
  return (
    <>
      <p data-testid="preflight-verdict" data-passed={String(props.report.passed)} class={props.report.passed ? 'ok' : 'warning'}>
        {props.report.passed
          ? 'Preflight passed: nothing blocking failed.'
          : `Preflight failed: ${props.report.checks.filter((c) => c.severity === 'block' && c.outcome !== 'pass').length} blocking check(s) did not pass. Advance stays off until they do.`}{' '}
        Ran {utc(props.report.ran_at)}, digest <code>{shortHash(props.report.digest)}</code>.
      </p>
      <table data-testid="preflight-checks">
        <thead>
          <tr><th>check</th><th>severity</th><th>outcome</th><th>evidence</th><th>fix</th><th>runbook</th></tr>
        </thead>
        <tbody>
          <For each={props.report.checks}>
            {(c) => (
              <tr data-testid={`preflight-${c.id}`} data-outcome={c.outcome} data-severity={c.severity}>
                <td>
                  <strong>{c.title}</strong>
                  <br />
                  <code>{c.id}</code>
                </td>
                <td>{SEVERITY_LABEL[c.severity]}</td>
                <td class={`outcome ${c.outcome}`}>{OUTCOME_LABEL[c.outcome]}</td>
                <td class="evidence">
                  {c.evidence.read}
                  {c.evidence.status !== null ? ` · HTTP ${c.evidence.status}` : ''}
                  {c.evidence.request_id ? ` · request ${c.evidence.request_id}` : ''}
                </td>
                <td data-testid="fix">{c.fix || '—'}</td>
                <td>
                  <a href={runbookRoute(c.runbook)} data-testid="runbook-link">
                    {c.id}
                  </a>
                </td>
              </tr>
            )}
          </For>
        </tbody>
      </table>
    </>
  );
}

/** Screen 1: the connection, then the go-live preflight. */
export function Connection() {
  const app = useApp();
  const [storefront, setStorefront] = createSignal('');
  const [running, setRunning] = createSignal(false);
  const [report, setReport] = createSignal<PreflightReport>();
  const [error, setError] = createSignal<unknown>();

  const run = async () => {
    setRunning(true);
    setError(undefined);
    try {
      const url = storefront().trim();
      setReport(await app.client.call(url ? { op: 'preflight', storefront: [url] } : { op: 'preflight' }));
    } catch (e) {
      setError(e);
    } finally {
      setRunning(false);
    }
  };

  return (
    <section aria-labelledby="connection-title" data-testid="screen-connection">
      <h1 id="connection-title">Connection and preflight</h1>
      <Show when={app.ops.has('connection')} fallback={<StatusFacts />}>
        <ConnectionFacts />
      </Show>
      <div class="panel">
        <h2>Preflight</h2>
        <p>
          Reads BigCommerce, Bloomreach and the storefront the way the sync will, and says for each check what it saw and
          the exact fix. The cutover advances only on a fresh passing preflight.
        </p>
        <form
          class="row"
          onSubmit={(e) => {
            e.preventDefault();
            void run();
          }}
        >
          <label for="storefront">Storefront page (optional; default: the store's own URL)</label>
          <input id="storefront" type="url" value={storefront()} onInput={(e) => setStorefront(e.currentTarget.value)} placeholder="https://shop.example/" />
          <button type="submit" data-testid="run-preflight" disabled={running()}>
            {running() ? 'Running…' : 'Run preflight'}
          </button>
        </form>
        <Show when={error()}>
          <ErrorNote error={error()} />
        </Show>
        <Show when={report()}>{(r) => <PreflightTable report={r()} />}</Show>
      </div>
    </section>
  );
}
