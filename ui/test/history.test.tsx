import { fireEvent, screen, waitFor } from '@solidjs/testing-library';
import { describe, expect, it } from 'vitest';
import type { BackfillPlan, BackfillStatus } from '../src/api/types';
import { History } from '../src/screens/History';
import { historyProgress, planCalls } from '../src/view/history';
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

  it('reads the plan from BigCommerce on request, with the day it starts from', async () => {
    const plan = clone(snapshot<BackfillPlan>('backfill__plan_tests__backfill_plan'));
    const { fake } = renderScreen(() => <History />, { backfill_status: () => failed(), backfill_plan: () => plan });
    await screen.findByTestId('history-progress');
    expect(fake.calls.some((c) => c.op === 'backfill_plan')).toBe(false);
    fireEvent.input(screen.getByTestId('plan-since'), { target: { value: '2025-06-01' } });
    fireEvent.click(screen.getByTestId('plan-read'));
    const calls = await screen.findByTestId('plan-calls');
    expect(calls.textContent).toBe('7 (4 order pages, 2 customer pages, 1 product page)');
    expect(fake.calls.find((c) => c.op === 'backfill_plan')).toEqual({ op: 'backfill_plan', since: '2025-06-01' });
    expect(screen.getByTestId('plan-counts').textContent).toContain('1,000 orders, 300 customers, 40 products');
    expect(screen.getByTestId('plan-quota').textContent).toContain('150 requests / 30 s, 20 % left');
    expect(screen.getByTestId('plan-file-purchase_items').textContent).toContain('1,500');
  });

  it('shows why the plan could not be read', async () => {
    renderScreen(() => <History />, {
      backfill_status: () => failed(),
      backfill_plan: () => ({
        code: 'upstream',
        message: "reading BigCommerce's counts for the plan failed (timeout); nothing started, try again",
      }),
    });
    await screen.findByTestId('history-progress');
    fireEvent.click(screen.getByTestId('plan-read'));
    await waitFor(() => expect(screen.getByTestId('history-plan').textContent).toContain('nothing started, try again'));
    expect(screen.queryByTestId('plan-calls')).toBeNull();
  });

  it('rounds progress as view logic', () => {
    expect(planCalls({ api_calls: 3, order_calls: 1, customer_calls: 1, product_calls: 1 } as BackfillPlan)).toBe(
      '3 (1 order page, 1 customer page, 1 product page)',
    );
    expect(historyProgress({ done: 1, total: 3 } as BackfillStatus)).toBe('1 of 3 (33 %)');
    expect(historyProgress({ done: 0, total: 0 } as BackfillStatus)).toBe('0 of 0');
  });
});
