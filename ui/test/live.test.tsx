import { screen, waitFor } from '@solidjs/testing-library';
import { describe, expect, it } from 'vitest';
import type { Status } from '../src/api/types';
import { Live } from '../src/screens/Live';
import { laneRows } from '../src/view/lanes';
import { addSample, throughputChart } from '../src/view/series';
import { status } from './fixtures';
import { renderScreen } from './render';

function at(seconds: number, patch: (s: Status) => void = () => {}): Status {
  const s = status();
  s.at = new Date(Date.UTC(2025, 11, 1, 0, 0, seconds)).toISOString();
  s.lanes = [
    { lane: 'transactions', queued: 4, oldest_age_ms: 400_000, state: 'late' },
    { lane: 'customers', queued: 2, oldest_age_ms: 90_000, state: 'stalled' },
    { lane: 'carts', queued: 0, oldest_age_ms: 0, state: 'idle' },
    { lane: 'catalog', queued: 1, oldest_age_ms: 20_000, state: 'on_time' },
    { lane: 'triggers', queued: 3, oldest_age_ms: 5_000, state: 'closed' },
  ];
  s.purchase_latency = { window_secs: 300, p50_ms: 1_500, p99_ms: 320_000, max_ms: 400_000, limit_ms: 300_000, samples: 40 };
  patch(s);
  return s;
}

describe('live screen', () => {
  it('labels each lane state in words, not only colour', async () => {
    const { setStatus } = renderScreen(() => <Live />, {});
    setStatus(at(0));
    const late = await screen.findByTestId('lane-transactions');
    expect(late.dataset.state).toBe('late');
    expect(late.querySelector('[data-testid=lane-state]')?.textContent).toBe('Late ⚠');
    expect(late.querySelector('[data-testid=lane-oldest]')?.textContent).toBe('6 m 40 s');
    expect(screen.getByTestId('lane-customers').querySelector('[data-testid=lane-state]')?.textContent).toBe('Stalled ⚠');
    expect(screen.getByTestId('lane-catalog').querySelector('[data-testid=lane-state]')?.textContent).toBe('On time');
    expect(screen.getByTestId('lane-triggers').querySelector('[data-testid=lane-state]')?.textContent).toBe('Closed (queues)');
    expect(screen.getByTestId('latency-p99').textContent).toBe('5 m 20 s');
    expect(screen.getByTestId('latency-limit').textContent).toBe('5 m 00 s');
    expect(screen.getByTestId('latency-verdict').textContent).toContain('OVER the limit');
  });

  it("puts every chart's numbers in its table, updating from the subscription", async () => {
    const { setStatus } = renderScreen(() => <Live />, {});
    setStatus(at(0, (s) => { s.metrics.delivered = 100; s.metrics.bloomreach_429s = 0; }));
    setStatus(at(2, (s) => { s.metrics.delivered = 160; s.metrics.bloomreach_429s = 6; }));
    await waitFor(() => expect(screen.getByTestId('chart-throughput-table').querySelectorAll('tbody tr').length).toBe(2));
    const newest = screen.getByTestId('chart-throughput-table').querySelector('tbody tr')!;
    expect([...newest.querySelectorAll('th,td')].map((c) => c.textContent)).toEqual(['00:00:02', '30', '3']);
    const latency = screen.getByTestId('chart-latency-table').querySelector('tbody tr')!;
    expect([...latency.querySelectorAll('td')].map((c) => c.textContent)).toEqual(['1.50', '320', '300']);
    const queues = screen.getByTestId('chart-queues-table');
    expect([...queues.querySelectorAll('thead th')].map((c) => c.textContent)).toContain('transactions (commands)');
    expect(screen.getByTestId('rate-limited-total').textContent).toBe('6');
  });

  it('links each alert to the runbook section for its kind', async () => {
    const { setStatus } = renderScreen(() => <Live />, {}, { errorRunbooks: { links: { 'alert.parked': 'escalation#a-component-is-parked' } } });
    setStatus(at(0));
    const alert = await screen.findByTestId('alert-parked');
    expect(alert.textContent).toContain('enrich is parked');
    expect(alert.querySelector('a')?.getAttribute('href')).toBe('#/runbooks/escalation/a-component-is-parked');
  });

  it("reads the status's lanes; an empty lane has no oldest age", () => {
    const rows = laneRows(status());
    expect(rows.find((r) => r.lane === 'catalog')).toEqual({ lane: 'catalog', queued: 1, oldestAgeMs: 20_000, state: 'on_time' });
    expect(rows.find((r) => r.lane === 'carts')).toEqual({ lane: 'carts', queued: 0, oldestAgeMs: null, state: 'idle' });
  });

  it('draws no percentiles for a window without purchases', async () => {
    const { setStatus } = renderScreen(() => <Live />, {});
    setStatus(at(0, (s) => { s.purchase_latency = { ...s.purchase_latency, samples: 0, p50_ms: 0, p99_ms: 0, max_ms: 0 }; }));
    const row = (await screen.findByTestId('chart-latency-table')).querySelector('tbody tr')!;
    expect([...row.querySelectorAll('td')].map((c) => c.textContent)).toEqual(['—', '—', '300']);
    expect(screen.getByTestId('latency-verdict').textContent).toContain('No purchase acknowledged in the last 5 m 00 s');
  });

  it('derives per-second rates between samples and keeps a bounded window', () => {
    let samples = addSample([], at(0), 3);
    for (let i = 1; i <= 5; i++) samples = addSample(samples, at(i, (s) => { s.metrics.delivered = 10 * i; }), 3);
    expect(samples.length).toBe(3);
    expect(throughputChart(samples).series[0]!.values).toEqual([10, 10, 10]);
  });
});
