import { createSignal, For, Show } from 'solid-js';
import type { DayRow, Reconciliation } from '../api/types';
import { ErrorNote } from '../components/ErrorNote';
import { useApp } from '../context';
import { saveBlob } from '../download';
import { utc, words } from '../view/format';
import { reconciliationCsv, rowBalanced } from '../view/reconcile-csv';

function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

function Rows(props: { rows: DayRow[]; testid: string }) {
  return (
    <table data-testid={props.testid} class="wide">
      <thead>
        <tr>
          <th rowspan="2">day</th><th rowspan="2">currency</th>
          <th colspan="5">BigCommerce</th><th colspan="4">Bloomreach</th><th colspan="3">differences</th>
        </tr>
        <tr>
          <th>orders</th><th>gross</th><th>refunds</th><th>net</th><th>unpaid</th>
          <th>orders</th><th>gross</th><th>refunds</th><th>net</th>
          <th>missing / extra / dup / amount</th><th>net difference</th><th>balanced</th>
        </tr>
      </thead>
      <tbody>
        <For each={props.rows}>
          {(r) => (
            <tr data-testid={`rec-row-${r.day ?? 'total'}-${r.currency}`} data-balanced={String(rowBalanced(r))}>
              <th scope="row">{r.day ?? 'total'}</th>
              <td>{r.currency}</td>
              <td>{r.bigcommerce_orders}</td>
              <td>{r.bigcommerce_gross}</td>
              <td>{r.bigcommerce_refunds}</td>
              <td>{r.bigcommerce_net}</td>
              <td>{r.bigcommerce_unpaid}</td>
              <td>{r.bloomreach_orders}</td>
              <td>{r.bloomreach_gross}</td>
              <td>{r.bloomreach_refunds}</td>
              <td>{r.bloomreach_net}</td>
              <td>{`${r.missing} / ${r.extra} / ${r.duplicate} / ${r.amount_mismatch}`}</td>
              <td data-testid="difference">{r.difference}</td>
              <td class={rowBalanced(r) ? 'outcome pass' : 'outcome fail'}>{rowBalanced(r) ? 'yes' : 'NO'}</td>
            </tr>
          )}
        </For>
      </tbody>
    </table>
  );
}

/** Screen 6: BigCommerce's paid orders against what Bloomreach acknowledged, per day and currency. */
export function Reconcile() {
  const app = useApp();
  const today = new Date();
  const weekAgo = new Date(today.getTime() - 6 * 86_400_000);
  const [from, setFrom] = createSignal(isoDay(weekAgo));
  const [to, setTo] = createSignal(isoDay(today));
  const [answer, setAnswer] = createSignal<Reconciliation>();
  const [error, setError] = createSignal<unknown>();
  const [busy, setBusy] = createSignal(false);

  const run = async (repair: boolean) => {
    setBusy(true);
    setError(undefined);
    try {
      setAnswer(await app.client.call({ op: 'reconcile', from: from(), to: to(), repair }));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const download = () => {
    const rec = answer();
    if (!rec) return;
    saveBlob(new Blob([reconciliationCsv(rec)], { type: 'text/csv' }), `reconciliation-${rec.range.from}-${rec.range.to}.csv`);
  };

  return (
    <section aria-labelledby="rec-title" data-testid="screen-reconcile">
      <h1 id="rec-title">Reconciliation</h1>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          void run(false);
        }}
      >
        <label for="rec-from">From</label>
        <input id="rec-from" type="date" data-testid="rec-from" value={from()} onInput={(e) => setFrom(e.currentTarget.value)} required />
        <label for="rec-to">To (inclusive)</label>
        <input id="rec-to" type="date" data-testid="rec-to" value={to()} onInput={(e) => setTo(e.currentTarget.value)} required />
        <button type="submit" data-testid="rec-run" disabled={busy()}>
          Reconcile
        </button>
      </form>
      <Show when={error()}>
        <ErrorNote error={error()} />
      </Show>
      <Show when={answer()}>
        {(rec) => (
          <>
            <p data-testid="rec-verdict" data-balanced={String(rec().balanced)} class={rec().balanced ? 'ok' : 'warning'}>
              {rec().balanced ? 'Balanced: both sides agree on every day and currency.' : `NOT balanced: ${rec().findings.length} finding(s) below.`}{' '}
              Days in {rec().time_zone}; refunds count on the day they were processed. Made {utc(rec().generated_at)}.
            </p>
            <div class="toolbar">
              <button type="button" data-testid="rec-csv" onClick={download}>
                Download CSV
              </button>
              <button type="button" data-testid="rec-repair" disabled={busy() || rec().balanced} onClick={() => void run(true)}>
                Repair: send what is missing
              </button>
            </div>
            <Show when={rec().repair}>
              {(r) => (
                <p class="ok" role="status" data-testid="rec-repaired">
                  Repair: {r().orders_resent.length} order(s) re-read, {r().dead_letters_replayed.length} dead letter(s) replayed,{' '}
                  {r().already_pending.length} already on their way, {r().left_discarded.length} discarded by an operator (left alone).
                </p>
              )}
            </Show>
            <h2>Per day and currency</h2>
            <Rows rows={rec().rows} testid="rec-rows" />
            <h2>Totals</h2>
            <Rows rows={rec().totals} testid="rec-totals" />
            <Show when={rec().findings.length > 0}>
              <h2>Differences</h2>
              <table data-testid="rec-findings">
                <thead>
                  <tr><th>day</th><th>currency</th><th>what</th><th>class</th><th>order</th><th>BigCommerce</th><th>Bloomreach</th><th>acks</th><th>what BigReach knows</th></tr>
                </thead>
                <tbody>
                  <For each={rec().findings}>
                    {(f) => (
                      <tr data-class={f.class}>
                        <td>{f.day}</td>
                        <td>{f.currency}</td>
                        <td>{f.subject}{f.refund_id !== null ? ` ${f.refund_id}` : ''}</td>
                        <td>{words(f.class)}</td>
                        <td>{f.order_id}</td>
                        <td>{f.bigcommerce_amount ?? '—'}</td>
                        <td>{f.bloomreach_amount ?? '—'}</td>
                        <td>{f.acknowledged}</td>
                        <td>{f.note}</td>
                      </tr>
                    )}
                  </For>
                </tbody>
              </table>
            </Show>
          </>
        )}
      </Show>
    </section>
  );
}
