import { createResource, createSignal, For, onCleanup, Show } from 'solid-js';
import type { BackfillPlan, BackfillStatus } from '../api/types';
import { Confirm } from '../components/Confirm';
import { ErrorNote } from '../components/ErrorNote';
import { useApp } from '../context';
import { count, duration, utc } from '../view/format';
import {
  START_PHRASE,
  fileKindName,
  historyMoving,
  historyProgress,
  planBinding,
  planCalls,
  planQuota,
  startAction,
} from '../view/history';

/**
 * What a backfill would cost before it starts (`backfill_plan`): read on request, as it asks
 * BigCommerce for its counts (a handful of calls against the store's quota). Once read, the
 * backfill starts (or resumes) from here with a typed confirmation bound to that plan
 * (`backfill_start`), unless it runs already or has finished.
 */
function Plan(props: { status: BackfillStatus | undefined; onStarted: () => void }) {
  const app = useApp();
  const [since, setSince] = createSignal('');
  const [plan, setPlan] = createSignal<BackfillPlan>();
  const [planSince, setPlanSince] = createSignal<string | null>(null);
  const [error, setError] = createSignal<unknown>();
  const [startError, setStartError] = createSignal<unknown>();
  const [busy, setBusy] = createSignal(false);
  const read = async () => {
    setBusy(true);
    setError(undefined);
    setStartError(undefined);
    const day = since() === '' ? null : since();
    try {
      setPlan(await app.client.call({ op: 'backfill_plan', since: day }));
      setPlanSince(day);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const start = async () => {
    setBusy(true);
    setStartError(undefined);
    try {
      await app.client.call({ op: 'backfill_start', since: planSince() });
      props.onStarted();
    } catch (e) {
      setStartError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="panel" data-testid="history-plan">
      <h2>Plan</h2>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          void read();
        }}
      >
        <label for="plan-since">Orders created since (UTC, empty for all)</label>
        <input id="plan-since" type="date" data-testid="plan-since" value={since()} onInput={(e) => setSince(e.currentTarget.value)} />
        <button type="submit" data-testid="plan-read" disabled={busy()}>
          Read the plan from BigCommerce
        </button>
      </form>
      <Show when={error()}>
        <ErrorNote error={error()} />
      </Show>
      <Show when={plan()}>
        {(p) => (
          <>
            <dl class="facts">
              <dt>In BigCommerce</dt>
              <dd data-testid="plan-counts">
                {count(p().input.counts.orders)} orders, {count(p().input.counts.customers)} customers, {count(p().input.counts.products)} products
              </dd>
              <dt>API calls</dt>
              <dd data-testid="plan-calls">{planCalls(p())}</dd>
              <dt>Quota</dt>
              <dd data-testid="plan-quota">{planQuota(p())}</dd>
              <dt>Listing time</dt>
              <dd data-testid="plan-time">{duration(p().seconds * 1000)} at BigReach's share of the quota</dd>
            </dl>
            <table>
              <thead>
                <tr><th>file</th><th>rows</th><th>files</th><th>rows per file</th></tr>
              </thead>
              <tbody>
                <For each={p().files}>
                  {(f) => (
                    <tr data-testid={`plan-file-${f.kind}`}>
                      <td>{fileKindName(f.kind)}</td>
                      <td>{count(f.rows)}</td>
                      <td>{count(f.files)}</td>
                      <td>{count(f.rows_per_file)}</td>
                    </tr>
                  )}
                </For>
              </tbody>
            </table>
            <Show when={startAction(props.status)}>
              {(action) => (
                <Confirm
                  id="backfill-start"
                  phrase={START_PHRASE}
                  bindTo={planBinding(p(), planSince())}
                  action={action()}
                  busy={busy()}
                  onConfirm={() => void start()}
                >
                  <p>
                    It lists {count(p().input.counts.orders)} orders with their lines in {count(p().order_calls)} calls, writes the
                    files above and imports them through Bloomreach's Imports API. Orders after the watermark it records go live
                    instead, so none is both imported and sent.
                  </p>
                </Confirm>
              )}
            </Show>
            <Show when={startError()}>
              <ErrorNote error={startError()} testid="backfill-start-error" />
            </Show>
          </>
        )}
      </Show>
    </div>
  );
}

/**
 * The history backfill (`backfill_start` or `bigreach backfill run`, the Imports API): phase,
 * done / total, rate, time left, the files written and each file's import with Bloomreach's
 * reason when it failed. Asked again every `every` ms while it runs.
 */
export function History(props: { every?: number }) {
  const app = useApp();
  const [status, { refetch }] = createResource(() => app.client.call({ op: 'backfill_status' }));
  // Fixed for the screen's life.
  // eslint-disable-next-line solid/reactivity
  const every = props.every ?? 2000;
  const timer = setInterval(() => {
    if (historyMoving(status())) void refetch();
  }, every);
  onCleanup(() => clearInterval(timer));

  return (
    <section aria-labelledby="history-title" data-testid="screen-history">
      <h1 id="history-title">History</h1>
      <Show when={status.error}>
        <ErrorNote error={status.error} />
      </Show>
      <Show when={status()}>
        {(s) => (
          <Show
            when={s().started}
            fallback={
              <p data-testid="history-none">
                No history backfill has run on this store. The plan below (or <code>bigreach backfill plan</code>) shows the
                calls, the time and the files it would take against the store's quota; once it is read, the backfill starts
                from here (or with <code>bigreach backfill run</code> while the appliance is stopped). It writes the files and
                imports them through Bloomreach's Imports API. Orders after the watermark it records go live instead, so none
                is both imported and sent.
              </p>
            }
          >
            <div class="panel">
              <p>
                Phase <strong data-testid="history-phase">{s().phase ?? '—'}</strong>:{' '}
                <span data-testid="history-done">{historyProgress(s())}</span> orders, customers and products listed.{' '}
                <span data-testid="history-running" data-running={String(s().running)}>
                  {s().running ? 'Running in this appliance.' : s().phase === 'done' ? '' : 'Not running now.'}
                </span>
              </p>
              <progress data-testid="history-progress" value={s().done} max={Math.max(s().total, 1)} aria-label="History backfill progress">
                {historyProgress(s())}
              </progress>
              <dl class="facts">
                <dt>Rate</dt>
                <dd data-testid="history-rate">{s().rate_per_second.toFixed(1)} per second</dd>
                <dt>Time left</dt>
                <dd data-testid="history-left">{s().seconds_left === null ? '—' : duration((s().seconds_left ?? 0) * 1000)}</dd>
                <dt>Watermark</dt>
                <dd>
                  {utc(s().watermark)}: {count(s().orders_after_watermark)} orders after it go live
                </dd>
              </dl>
              <Show when={s().stopped_by}>
                <p class="warning" role="alert" data-testid="history-stopped">
                  It stopped early: {s().stopped_by}
                </p>
              </Show>
              <Show when={s().failure}>
                <p class="warning" role="alert" data-testid="history-failure">{s().failure}</p>
              </Show>
            </div>
            <h2>Files</h2>
            <table>
              <thead>
                <tr><th>file</th><th>rows</th><th>SHA-256</th></tr>
              </thead>
              <tbody>
                <For each={s().files}>
                  {(f) => (
                    <tr data-testid={`history-file-${f.name}`}>
                      <td><code>{f.name}</code></td>
                      <td>{count(f.rows)}</td>
                      <td><code>{f.sha256 ? f.sha256.slice(0, 16) : 'being written'}</code></td>
                    </tr>
                  )}
                </For>
              </tbody>
            </table>
            <h2>Imports</h2>
            <table>
              <thead>
                <tr><th>file</th><th>definition</th><th>state</th><th>rows imported</th><th>rows failed</th><th>reason</th></tr>
              </thead>
              <tbody>
                <For each={s().imports}>
                  {(r) => (
                    <tr data-testid={`history-import-${r.file}`} data-state={r.state}>
                      <td><code>{r.file}</code></td>
                      <td><code>{r.import_id || '—'}</code></td>
                      <td>{r.state}</td>
                      <td>{count(r.rows_imported)}</td>
                      <td>{count(r.rows_failed)}</td>
                      <td>{r.reason ?? '—'}</td>
                    </tr>
                  )}
                </For>
              </tbody>
            </table>
          </Show>
        )}
      </Show>
      <Plan status={status()} onStarted={() => void refetch()} />
    </section>
  );
}
