import { createResource, For, onCleanup, Show } from 'solid-js';
import { ErrorNote } from '../components/ErrorNote';
import { useApp } from '../context';
import { count, duration, utc } from '../view/format';
import { historyMoving, historyProgress } from '../view/history';

/**
 * The history backfill (`bigreach backfill run`, the Imports API): phase, done / total, rate,
 * time left, the files written and each file's import with Bloomreach's reason when it failed.
 * Asked again every `every` ms while it moves.
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
                No history backfill has run on this store. <code>bigreach backfill plan</code> shows the calls, the time and
                the files it would take against the store's quota; <code>bigreach backfill run</code> writes the files and
                imports them through Bloomreach's Imports API. Orders after the watermark it records go live instead, so none
                is both imported and sent.
              </p>
            }
          >
            <div class="panel">
              <p>
                Phase <strong data-testid="history-phase">{s().phase ?? '—'}</strong>:{' '}
                <span data-testid="history-done">{historyProgress(s())}</span> orders listed.
              </p>
              <progress data-testid="history-progress" value={s().done} max={Math.max(s().total, 1)} aria-label="History backfill progress">
                {historyProgress(s())}
              </progress>
              <dl class="facts">
                <dt>Rate</dt>
                <dd data-testid="history-rate">{s().rate_per_second.toFixed(1)} orders/s</dd>
                <dt>Time left</dt>
                <dd data-testid="history-left">{s().seconds_left === null ? '—' : duration((s().seconds_left ?? 0) * 1000)}</dd>
                <dt>Watermark</dt>
                <dd>
                  {utc(s().watermark)}: {count(s().orders_after_watermark)} orders after it go live
                </dd>
              </dl>
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
    </section>
  );
}
