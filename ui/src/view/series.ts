import type { Status } from '../api/types';
import { laneRows } from './lanes';

/** One status sample, reduced to what the live charts draw. */
export interface Sample {
  /** Seconds since the epoch (uPlot's x). */
  t: number;
  queued: Record<string, number>;
  p50Ms: number | null;
  p99Ms: number | null;
  limitMs: number | null;
  /** Commands acknowledged per second since the previous sample. */
  deliveredPerSec: number | null;
  /** Bloomreach 429s per second since the previous sample. */
  rateLimitedPerSec: number | null;
  deliveredTotal: number;
  rateLimitedTotal: number;
}

/** How many samples the live screen keeps (two minutes at one a second). */
export const KEEP = 120;

/** Appends `status` to `samples` (keeping the last `keep`), deriving the per-second rates. */
export function addSample(samples: Sample[], status: Status, keep = KEEP): Sample[] {
  const t = new Date(status.at).getTime() / 1000;
  const previous = samples[samples.length - 1];
  const deliveredTotal = status.metrics.delivered;
  const rateLimitedTotal = status.metrics.bloomreach_429s;
  const dt = previous ? t - previous.t : 0;
  const rate = (now: number, before: number | undefined): number | null =>
    previous && dt > 0 && before !== undefined ? Math.max(0, now - before) / dt : null;
  const queued: Record<string, number> = {};
  for (const row of laneRows(status)) queued[row.lane] = row.queued;
  const latency = status.purchase_latency;
  // Without purchases in the window the percentiles are 0 on the wire: nothing to draw.
  const measured = latency.samples > 0;
  const sample: Sample = {
    t,
    queued,
    p50Ms: measured ? latency.p50_ms : null,
    p99Ms: measured ? latency.p99_ms : null,
    limitMs: latency.limit_ms,
    deliveredPerSec: rate(deliveredTotal, previous?.deliveredTotal),
    rateLimitedPerSec: rate(rateLimitedTotal, previous?.rateLimitedTotal),
    deliveredTotal,
    rateLimitedTotal,
  };
  // A sample at the same instant replaces the last (a reconnect may repeat one).
  const base = previous && previous.t === t ? samples.slice(0, -1) : samples;
  return [...base, sample].slice(-keep);
}

/** A chart's data: x values, then one named series per line; the table twin shows the same. */
export interface ChartData {
  x: number[];
  series: { label: string; values: (number | null)[]; unit: string }[];
}

export function queueChart(samples: Sample[], lanes: string[]): ChartData {
  return {
    x: samples.map((s) => s.t),
    series: lanes.map((lane) => ({
      label: lane,
      values: samples.map((s) => s.queued[lane] ?? 0),
      unit: 'commands',
    })),
  };
}

export function latencyChart(samples: Sample[]): ChartData {
  const seconds = (ms: number | null): number | null => (ms === null ? null : ms / 1000);
  return {
    x: samples.map((s) => s.t),
    series: [
      { label: 'p50', values: samples.map((s) => seconds(s.p50Ms)), unit: 's' },
      { label: 'p99', values: samples.map((s) => seconds(s.p99Ms)), unit: 's' },
      { label: 'limit', values: samples.map((s) => seconds(s.limitMs)), unit: 's' },
    ],
  };
}

export function throughputChart(samples: Sample[]): ChartData {
  return {
    x: samples.map((s) => s.t),
    series: [
      { label: 'delivered/s', values: samples.map((s) => s.deliveredPerSec), unit: '/s' },
      { label: '429s/s', values: samples.map((s) => s.rateLimitedPerSec), unit: '/s' },
    ],
  };
}
