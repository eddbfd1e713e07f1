import { createSignal, For, Show } from 'solid-js';
import type { Trace as TraceAnswer } from '../api/types';
import { ErrorNote } from '../components/ErrorNote';
import { useApp } from '../context';
import { utc } from '../view/format';

const VERDICT_LABEL = {
  entered: 'Entered',
  waiting: 'Waiting',
  withheld: 'Withheld',
  failed: 'Failed',
  unknown: 'Unknown',
} as const;

/** Screen 4: one person across BigCommerce → BigReach → Bloomreach, ending in the verdict. */
export function Trace() {
  const app = useApp();
  const [query, setQuery] = createSignal('');
  const [trace, setTrace] = createSignal<TraceAnswer>();
  const [error, setError] = createSignal<unknown>();
  const [busy, setBusy] = createSignal(false);

  const search = async () => {
    setBusy(true);
    setError(undefined);
    try {
      setTrace(await app.client.call({ op: 'trace', query: query().trim() }));
    } catch (e) {
      setTrace(undefined);
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="trace-title" data-testid="screen-trace">
      <h1 id="trace-title">Trace a person</h1>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          void search();
        }}
      >
        <label for="trace-query">Email, phone (+49…) or BigCommerce customer id</label>
        <input id="trace-query" data-testid="trace-query" value={query()} onInput={(e) => setQuery(e.currentTarget.value)} required />
        <button type="submit" data-testid="trace-search" disabled={busy()}>
          Trace
        </button>
      </form>
      <Show when={error()}>
        <ErrorNote error={error()} />
      </Show>
      <Show when={trace()}>
        {(t) => (
          <div data-testid="trace-result">
            <p>
              <strong>{t().query}</strong> is {t().person_keys.map((k) => k).join(', ') || 'nobody BigReach knows'}.
            </p>
            <div class="panel">
              <h2>Identity links</h2>
              <Show when={t().links.length > 0} fallback={<p>No links followed.</p>}>
                <table data-testid="trace-links">
                  <thead><tr><th>key</th><th>belongs to</th></tr></thead>
                  <tbody>
                    <For each={t().links}>{(l) => <tr><td>{l.from}</td><td>{l.to}</td></tr>}</For>
                  </tbody>
                </table>
              </Show>
            </div>
            <div class="panel">
              <h2>Commands</h2>
              <Show when={t().commands.length > 0} fallback={<p>Nothing was queued or sent for them.</p>}>
                <table data-testid="trace-commands">
                  <thead>
                    <tr><th>id</th><th>fact</th><th>lane</th><th>state</th><th>attempts</th><th>enqueued</th><th>acknowledged</th><th>last error</th></tr>
                  </thead>
                  <tbody>
                    <For each={t().commands}>
                      {(c) => (
                        <tr data-testid={`trace-command-${c.id}`} data-state={c.state}>
                          <td>{c.id}</td>
                          <td>{c.fact}</td>
                          <td>{c.lane}</td>
                          <td class={`cmd-state ${c.state}`}>{c.state}</td>
                          <td>{c.attempts}</td>
                          <td>{utc(c.enqueued_at)}</td>
                          <td>{c.acknowledged_at ? `${utc(c.acknowledged_at)} (${c.request_id ?? 'no request id'})` : '—'}</td>
                          <td>{c.last_error ?? '—'}</td>
                        </tr>
                      )}
                    </For>
                  </tbody>
                </table>
              </Show>
            </div>
            <div class="panel">
              <h2>Withheld</h2>
              <Show when={t().withheld.length > 0} fallback={<p>Nothing withheld.</p>}>
                <table data-testid="trace-withheld">
                  <thead><tr><th>what</th><th>why</th><th>when</th></tr></thead>
                  <tbody>
                    <For each={t().withheld}>
                      {(w) => (
                        <tr><td>{w.subject}</td><td>{w.reason}</td><td>{utc(w.at)}</td></tr>
                      )}
                    </For>
                  </tbody>
                </table>
              </Show>
              <Show when={t().set_aside.length > 0 || t().set_aside_unattributed > 0}>
                <p data-testid="trace-set-aside">
                  Set aside: {t().set_aside.map((s) => `${s.key} (${s.reason})`).join('; ') || 'none of theirs'}
                  {t().set_aside_unattributed > 0 ? `; ${t().set_aside_unattributed} other set-aside fetches may be theirs` : ''}.
                </p>
              </Show>
            </div>
            <Show when={t().verdict}>
              {(v) => (
                <div class={`verdict ${v().kind}`} data-testid="trace-verdict" data-kind={v().kind}>
                  <p>
                    <strong>{VERDICT_LABEL[v().kind]}:</strong> <span data-testid="trace-verdict-summary">{v().summary}</span>
                  </p>
                  <Show when={v().reasons.length > 0}>
                    <ul>
                      <For each={v().reasons}>{(r) => <li>{r}</li>}</For>
                    </ul>
                  </Show>
                </div>
              )}
            </Show>
          </div>
        )}
      </Show>
    </section>
  );
}
