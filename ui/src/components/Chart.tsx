import { For, onCleanup, onMount, createEffect } from 'solid-js';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { ChartData } from '../view/series';

const COLOURS = ['#1f6feb', '#d4a72c', '#8250df', '#1a7f37', '#cf222e', '#57606a'];

function cell(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

function time(t: number): string {
  return new Date(t * 1000).toISOString().slice(11, 19);
}

/**
 * A uPlot time series with its numbers in a table beside it: the table is what screen readers
 * read and what tests assert (a canvas has neither role nor text). A series named `limit` is
 * drawn dashed.
 */
export function Chart(props: { id: string; title: string; data: ChartData; unit: string }) {
  let host: HTMLDivElement | undefined;
  let plot: uPlot | undefined;

  const aligned = (): uPlot.AlignedData => [
    props.data.x,
    ...props.data.series.map((s) => s.values),
  ];

  onMount(() => {
    if (!host) return;
    // No canvas (the component tests' DOM): the table alone carries the numbers.
    if (!document.createElement('canvas').getContext?.('2d')) return;
    try {
      plot = new uPlot(
        {
          width: Math.max(300, Math.min(640, host.clientWidth || 560)),
          height: 180,
          legend: { show: true, live: false },
          scales: { x: { time: true } },
          axes: [{}, { label: props.unit, size: 60 }],
          series: [
            {},
            ...props.data.series.map((s, i) => ({
              label: s.label,
              stroke: COLOURS[i % COLOURS.length],
              width: s.label === 'limit' ? 1 : 2,
              dash: s.label === 'limit' ? [6, 4] : undefined,
              spanGaps: false,
            })),
          ],
        },
        aligned(),
        host,
      );
    } catch {
      plot = undefined;
    }
  });

  createEffect(() => {
    const data = aligned();
    plot?.setData(data);
  });

  onCleanup(() => plot?.destroy());

  const rows = () =>
    props.data.x
      .map((t, i) => ({ t, values: props.data.series.map((s) => s.values[i] ?? null) }))
      .reverse();

  return (
    <figure class="chart" data-testid={`chart-${props.id}`}>
      <figcaption>{props.title}</figcaption>
      <div class="chart-body">
        <div class="plot" ref={(el) => (host = el)} aria-hidden="true" />
        <div class="chart-table" tabindex="0" role="region" aria-label={`${props.title}: numbers`}>
          <table data-testid={`chart-${props.id}-table`}>
            <thead>
              <tr>
                <th scope="col">time (UTC)</th>
                <For each={props.data.series}>
                  {(s) => <th scope="col">{`${s.label} (${s.unit})`}</th>}
                </For>
              </tr>
            </thead>
            <tbody>
              <For each={rows()}>
                {(row) => (
                  <tr>
                    <th scope="row">{time(row.t)}</th>
                    <For each={row.values}>{(v) => <td>{cell(v)}</td>}</For>
                  </tr>
                )}
              </For>
            </tbody>
          </table>
        </div>
      </div>
    </figure>
  );
}
