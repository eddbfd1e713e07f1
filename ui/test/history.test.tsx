import { screen, waitFor } from '@solidjs/testing-library';
import { describe, expect, it } from 'vitest';
import type { BackfillStatus } from '../src/api/types';
import { History } from '../src/screens/History';
import { historyProgress } from '../src/view/history';
import { clone, snapshot } from './fixtures';
import { renderScreen } from './render';

const failed = (): BackfillStatus => clone(snapshot<BackfillStatus>('backfill__tests__backfill_status'));

describe('history backfill', () => {
  it('shows the phase, done / total, rate, time left, files and each import with its reason', async () => {
    renderScreen(() => <History />, { backfill_status: () => failed() });
    const progress = await screen.findByTestId('history-progress');
    expect(progress.getAttribute('value')).toBe('500');
    expect(progress.getAttribute('max')).toBe('1000');
    expect(screen.getByTestId('history-phase').textContent).toBe('failed');
    expect(screen.getByTestId('history-done').textContent).toContain('500 of 1,000 (50 %)');
    expect(screen.getByTestId('history-rate').textContent).toContain('5.0 orders/s');
    expect(screen.getByTestId('history-failure').textContent).toContain('Downloading failed');
    const file = screen.getByTestId('history-file-purchases-0001.csv');
    expect(file.textContent).toContain('10');
    const run = screen.getByTestId('history-import-purchases-0001.csv');
    expect(run.dataset.state).toBe('failed');
    expect(run.textContent).toContain('HTTP 401');
  });

  it('says how to start when no backfill has run', async () => {
    renderScreen(() => <History />, {
      backfill_status: () => ({
        started: false, phase: null, done: 0, total: 0, rate_per_second: 0, seconds_left: null, watermark: null,
        orders_after_watermark: 0, files: [], imports: [],
      } as unknown as BackfillStatus),
    });
    const none = await screen.findByTestId('history-none');
    expect(none.textContent).toContain('bigreach backfill plan');
    expect(screen.queryByTestId('history-progress')).toBeNull();
  });

  it('asks again while the backfill runs, and stops once it is done', async () => {
    let calls = 0;
    const running = failed();
    running.phase = 'listing';
    running.failure = null;
    const { fake } = renderScreen(() => <History every={20} />, {
      backfill_status: () => {
        calls++;
        if (calls < 3) return running;
        return { ...running, phase: 'done', done: 1000, seconds_left: 0 };
      },
    });
    await waitFor(() => expect(screen.getByTestId('history-phase').textContent).toBe('done'));
    const settled = fake.calls.length;
    await new Promise((r) => setTimeout(r, 120));
    expect(fake.calls.length).toBe(settled);
  });

  it('rounds progress as view logic', () => {
    expect(historyProgress({ done: 1, total: 3 } as BackfillStatus)).toBe('1 of 3 (33 %)');
    expect(historyProgress({ done: 0, total: 0 } as BackfillStatus)).toBe('0 of 0');
  });
});
