import { createEffect, createSignal, For, on, Show } from 'solid-js';
import { Chart } from '../components/Chart';
import { useApp } from '../context';
import { count, duration } from '../view/format';
import { LANE_STATE_LABEL, laneNeedsAttention, laneRows } from '../view/lanes';
import { runbookFor } from '../view/runbooks';
import { addSample, latencyChart, queueChart, throughputChart, type Sample } from '../view/series';

/** Screen 3: lanes, purchase latency, throughput, 429s, hooks and quota, pushed every second. */
export function Live() {
  const app = useApp();
  const [samples, setSamples] = createSignal<Sample[]>([]);
  createEffect(
    on(app.status, (status) => {
      if (status) setSamples((s) => addSample(s, status));
    }),
  );
  const lanes = () => {
    const status = app.status();
    return status ? laneRows(status) : [];
  };
  const last = () => samples()[samples().length - 1];

  return (
    <section aria-labelledby="live-title" data-testid="screen-live">
      <h1 id="live-title">Live</h1>
      <Show when={app.status()} fallback={<p data-testid="live-waiting">Waiting for the first status…</p>}>
        {(s) => (
          <>
            <Show when={s().alerts.length > 0}>
              <ul class="alerts" data-testid="alerts">
                <For each={s().alerts}>
                  {(a) => (
                    <li class="warning" role="status" data-testid={`alert-${a.kind}`}>
                      <strong>{a.kind}:</strong> {a.message}
                      <Show when={runbookFor(app.errorRunbooks(), 'alert', a.kind)}>
                        {(href) => (
                          <>
                            {' '}
                            <a href={href()}>What to do</a>
                          </>
                        )}
                      </Show>
                    </li>
                  )}
                </For>
              </ul>
            </Show>
            <div class="panel">
              <h2>Lanes</h2>
              <table data-testid="lanes">
                <thead><tr><th>lane</th><th>queued</th><th>oldest</th><th>state</th></tr></thead>
                <tbody>
                  <For each={lanes()}>
                    {(l) => (
                      <tr data-testid={`lane-${l.lane}`} data-state={l.state}>
                        <td>{l.lane}</td>
                        <td data-testid="lane-queued">{count(l.queued)}</td>
                        <td data-testid="lane-oldest">{duration(l.oldestAgeMs)}</td>
                        <td data-testid="lane-state" class={`lane-state ${l.state} ${laneNeedsAttention(l.state) ? 'attention' : ''}`}>
                          {LANE_STATE_LABEL[l.state]}
                          {laneNeedsAttention(l.state) ? ' ⚠' : ''}
                        </td>
                      </tr>
                    )}
                  </For>
                </tbody>
              </table>
            </div>
            <div class="charts">
              <div class="panel" data-testid="latency">
                <h2>Purchase latency</h2>
                <p>
                  <Show
                    when={s().purchase_latency.samples > 0}
                    fallback={<span data-testid="latency-verdict">No purchase acknowledged in the last {duration(s().purchase_latency.window_secs * 1000)}.</span>}
                  >
                    p50 <strong data-testid="latency-p50">{duration(s().purchase_latency.p50_ms)}</strong>, p99{' '}
                    <strong data-testid="latency-p99">{duration(s().purchase_latency.p99_ms)}</strong>, max{' '}
                    {duration(s().purchase_latency.max_ms)} against the{' '}
                    <span data-testid="latency-limit">{duration(s().purchase_latency.limit_ms)}</span> line ({count(s().purchase_latency.samples)}{' '}
                    purchases in {duration(s().purchase_latency.window_secs * 1000)}).{' '}
                    <span data-testid="latency-verdict">
                      {s().purchase_latency.p99_ms > s().purchase_latency.limit_ms ? 'OVER the limit ⚠' : 'within the limit'}
                    </span>
                  </Show>
                </p>
                <Chart id="latency" title="Purchase latency (s) with the limit" unit="s" data={latencyChart(samples())} />
              </div>
              <div class="panel" data-testid="throughput">
                <h2>Throughput and 429s</h2>
                <p>
                  Delivered {count(s().metrics.delivered)} in all
                  {last()?.deliveredPerSec !== null && last() ? `, ${last()!.deliveredPerSec!.toFixed(1)}/s now` : ''}; Bloomreach
                  429s <strong data-testid="rate-limited-total">{count(s().metrics.bloomreach_429s)}</strong>; ceiling{' '}
                  {count(s().bloomreach_requests_per_second)} requests/s; {count(s().in_flight)} in flight.
                </p>
                <Chart id="throughput" title="Delivered and 429s per second" unit="/s" data={throughputChart(samples())} />
              </div>
              <div class="panel">
                <h2>Queue depth</h2>
                <Chart id="queues" title="Queued commands per lane" unit="commands" data={queueChart(samples(), lanes().map((l) => l.lane))} />
              </div>
            </div>
            <div class="grid">
              <div class="panel" data-testid="hooks">
                <h2>Webhooks and quota</h2>
                <dl class="facts">
                  <dt>Hooks active</dt><dd data-testid="hooks-active">{s().hooks ? s().hooks!.active.join(', ') || 'none' : 'not checked yet'}</dd>
                  <dt>Re-activated</dt><dd>{s().hooks?.reactivated.join(', ') || 'none'}</dd>
                  <dt>Created</dt><dd>{s().hooks?.created.join(', ') || 'none'}</dd>
                  <dt>Restored in all</dt><dd>{count(s().metrics.hooks_restored)}</dd>
                  <dt>Webhooks accepted</dt><dd>{count(s().metrics.webhooks_accepted)} ({count(s().metrics.webhooks_duplicate)} duplicates, {count(s().metrics.webhooks_unauthorized)} unauthorized)</dd>
                  <dt>BigCommerce quota</dt>
                  <dd data-testid="quota">
                    {s().bigcommerce_quota.quota !== null
                      ? `${count(s().bigcommerce_quota.requests_left)} of ${count(s().bigcommerce_quota.quota)} left in the window`
                      : 'window not seen yet'}
                    {`; ${count(s().bigcommerce_quota.requests_sent)} sent, ${count(s().bigcommerce_quota.rate_limited)} answered 429`}
                  </dd>
                  <dt>Dead letters</dt><dd>{count(s().store.dead_letters)}</dd>
                  <dt>Set aside</dt><dd>{count(s().store.set_aside)}</dd>
                </dl>
              </div>
            </div>
          </>
        )}
      </Show>
    </section>
  );
}
