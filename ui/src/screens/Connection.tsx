import { createResource, createSignal, For, Show } from 'solid-js';
import type { ConnectRequest, Connected, ConnectionInfo, PreflightReport } from '../api/types';
import { ErrorNote } from '../components/ErrorNote';
import { useApp } from '../context';
import { shortHash, utc } from '../view/format';
import { runbookRoute } from '../view/runbooks';

const OUTCOME_LABEL = { pass: 'PASS', fail: 'FAIL', inconclusive: 'INCONCLUSIVE' } as const;
const SEVERITY_LABEL = { block: 'Blocking', warn: 'Warning' } as const;

/** What the appliance is connected to (the `connection` operation), secrets by reference only. */
function ConnectionFacts(props: { connection: ConnectionInfo }) {
  const c = () => props.connection;
  return (
    <>
      <dl class="facts" data-testid="connection">
        <dt>Config</dt><dd><code>{c().config_path}</code>{c().configured ? '' : ' (not written yet)'}</dd>
        <dt>BigCommerce store</dt><dd data-testid="connection-store">{c().store_hash ?? '—'}</dd>
        <dt>BigCommerce API</dt><dd>{c().bigcommerce_api_root ?? '—'}</dd>
        <dt>Bloomreach API</dt><dd>{c().bloomreach_base_url ?? '—'}</dd>
        <dt>Bloomreach project</dt><dd>{c().project_token ?? '—'}</dd>
        <dt>Bloomreach key id</dt><dd>{c().key_id ?? '—'}</dd>
        <dt>Webhooks arrive at</dt><dd>{c().webhook_public_url ?? '—'}</dd>
        <dt>Data directory</dt><dd>{c().data_dir ?? '—'}</dd>
      </dl>
      <table data-testid="secrets">
        <thead><tr><th>secret</th><th>kept in</th><th>resolves</th></tr></thead>
        <tbody>
          <For each={c().secrets}>
            {(s) => (
              <tr data-testid={`secret-${s.field}`} data-present={String(s.present)}>
                <td>{s.field}</td>
                <td><code>{s.reference}</code></td>
                <td class={s.present ? 'outcome pass' : 'outcome fail'}>{s.present ? 'yes' : 'NO: set it'}</td>
              </tr>
            )}
          </For>
        </tbody>
      </table>
    </>
  );
}

const FIELDS: { key: keyof ConnectRequest; label: string; secret?: boolean; optional?: boolean; hint: string }[] = [
  { key: 'store_hash', label: 'BigCommerce store hash', hint: 'the part after /stores/ in the API path' },
  { key: 'access_token', label: 'BigCommerce access token', secret: true, hint: 'of a store-level API account' },
  { key: 'bloomreach_base_url', label: 'Bloomreach API base URL', hint: 'Project settings → Access management → API' },
  { key: 'project_token', label: 'Bloomreach project token', hint: '' },
  { key: 'key_id', label: 'Bloomreach private key id', hint: '' },
  { key: 'api_secret', label: 'Bloomreach private key secret', secret: true, hint: '' },
  { key: 'webhook_public_url', label: 'Public webhook URL', hint: 'the HTTPS address BigCommerce calls' },
  { key: 'webhook_secret', label: 'Webhook secret', secret: true, optional: true, hint: 'generated when left empty' },
  { key: 'data_dir', label: 'Data directory', optional: true, hint: "the config's default when left empty" },
];

/** The first-run form: writes bigreach.toml; the host stores the secrets (or says where to put them). */
function ConnectForm(props: { onConnected: (answer: Connected) => void }) {
  const app = useApp();
  const [values, setValues] = createSignal<Record<string, string>>({});
  const [error, setError] = createSignal<unknown>();
  const [busy, setBusy] = createSignal(false);
  const submit = async (form: Record<string, string>) => {
    setBusy(true);
    setError(undefined);
    const text = (key: keyof ConnectRequest) => (form[key] ?? '').trim();
    const optional = (key: keyof ConnectRequest) => text(key) || null;
    try {
      props.onConnected(
        await app.client.call({
          op: 'connect',
          store_hash: text('store_hash'),
          access_token: text('access_token'),
          bloomreach_base_url: text('bloomreach_base_url'),
          project_token: text('project_token'),
          key_id: text('key_id'),
          api_secret: text('api_secret'),
          webhook_public_url: text('webhook_public_url'),
          webhook_secret: optional('webhook_secret'),
          data_dir: optional('data_dir'),
        }),
      );
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      class="connect-form"
      data-testid="connect-form"
      onSubmit={(e) => {
        e.preventDefault();
        void submit(values());
      }}
    >
      <For each={FIELDS}>
        {(f) => (
          <div class="field">
            <label for={`connect-${f.key}`}>
              {f.label}
              {f.optional ? ' (optional)' : ''}
            </label>
            <input
              id={`connect-${f.key}`}
              data-testid={`connect-${f.key}`}
              type={f.secret ? 'password' : 'text'}
              autocomplete="off"
              required={!f.optional}
              value={values()[f.key] ?? ''}
              onInput={(e) => setValues({ ...values(), [f.key]: e.currentTarget.value })}
            />
            <Show when={f.hint}><span class="hint">{f.hint}</span></Show>
          </div>
        )}
      </For>
      <p class="note">Secrets go to the host's secret store (the OS keyring in the desktop app), never into the config file.</p>
      <button type="submit" data-testid="connect-submit" disabled={busy()}>
        {busy() ? 'Saving…' : 'Save the connection'}
      </button>
      <Show when={error()}>
        <ErrorNote error={error()} testid="connect-error" />
      </Show>
    </form>
  );
}

/** The connection panel: what is configured, and the form to (re)connect. */
function ConnectionPanel() {
  const app = useApp();
  const [connection, { mutate }] = createResource(() => app.client.call({ op: 'connection' }));
  const [editing, setEditing] = createSignal(false);
  const [nextSteps, setNextSteps] = createSignal<string[]>([]);
  return (
    <div class="panel">
      <h2>Connection</h2>
      <Show when={connection.error}>
        <ErrorNote error={connection.error} />
      </Show>
      <Show when={connection()}>
        {(c) => (
          <>
            <ConnectionFacts connection={c()} />
            <Show when={nextSteps().length > 0}>
              <div class="ok" role="status" data-testid="connect-next-steps">
                <strong>Saved.</strong> Next:
                <ol>
                  <For each={nextSteps()}>{(step) => <li>{step}</li>}</For>
                </ol>
              </div>
            </Show>
            <Show
              when={!c().configured || editing()}
              fallback={
                <button type="button" data-testid="connect-edit" onClick={() => setEditing(true)}>
                  Change the connection
                </button>
              }
            >
              <ConnectForm
                onConnected={(answer) => {
                  mutate(answer.connection);
                  setNextSteps(answer.next_steps);
                  setEditing(false);
                }}
              />
            </Show>
          </>
        )}
      </Show>
    </div>
  );
}

/** What the live status tells about the services being reached. */
function ServiceState() {
  const app = useApp();
  return (
    <Show when={app.status()}>
      {(s) => (
        <>
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
      <ServiceState />
      <ConnectionPanel />
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
