import { fireEvent, screen, waitFor } from '@solidjs/testing-library';
import { describe, expect, it } from 'vitest';
import type { BackfillPlan, BackfillStatus } from '../src/api/types';
import { History } from '../src/screens/History';
import { historyProgress, planCalls, startAction } from '../src/view/history';
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
    expect(screen.getByTestId('history-rate').textContent).toContain('5.0 per second');
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
        started: false, running: false, stopped_by: null, phase: null, done: 0, total: 0, rate_per_second: 0,
        seconds_left: null, watermark: null, orders_after_watermark: 0, files: [], imports: [], failure: null,
      }) satisfies BackfillStatus,
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
    running.running = true;
    const { fake } = renderScreen(() => <History every={20} />, {
      backfill_status: () => {
        calls++;
        if (calls < 3) return running;
        return { ...running, phase: 'done', done: 1000, seconds_left: 0, running: false };
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
  it('starts the backfill from the plan read, once the word is typed, and follows it', async () => {
    const plan = clone(snapshot<BackfillPlan>('backfill__plan_tests__backfill_plan'));
    const none: BackfillStatus = {
      ...failed(), started: false, running: false, stopped_by: null, phase: null, done: 0, total: 0,
      files: [], imports: [], failure: null,
    };
    let status = none;
    const { fake } = renderScreen(() => <History every={20} />, {
      backfill_status: () => status,
      backfill_plan: () => plan,
      backfill_start: () => {
        status = { ...failed(), phase: 'listing', failure: null, running: true };
        return status;
      },
    });
    await screen.findByTestId('history-none');
    expect(screen.queryByTestId('backfill-start-button')).toBeNull();
    fireEvent.input(screen.getByTestId('plan-since'), { target: { value: '2025-06-01' } });
    fireEvent.click(screen.getByTestId('plan-read'));
    const button = (await screen.findByTestId('backfill-start-button')) as HTMLButtonElement;
    expect(button.textContent).toBe('Start the backfill');
    expect(button.disabled).toBe(true);
    fireEvent.input(screen.getByTestId('backfill-start-input'), { target: { value: 'backfill' } });
    expect(button.disabled).toBe(false);
    fireEvent.click(button);
    await waitFor(() => expect(screen.getByTestId('history-running').dataset.running).toBe('true'));
    expect(fake.calls.find((c) => c.op === 'backfill_start')).toEqual({ op: 'backfill_start', since: '2025-06-01' });
    // While it runs there is nothing to start.
    expect(screen.queryByTestId('backfill-start-button')).toBeNull();
    status = { ...status, running: false, stopped_by: 'BigCommerce: timeout; start it again to resume where it stopped' };
    // The next read (it still ran at the last one) shows why it stopped, and offers to resume.
    const stopped = await screen.findByTestId('history-stopped');
    expect(stopped.textContent).toContain('start it again to resume');
    expect(screen.getByTestId('backfill-start-button').textContent).toBe('Resume the backfill');
  });

  it('shows a refused start by its code', async () => {
    const plan = clone(snapshot<BackfillPlan>('backfill__plan_tests__backfill_plan'));
    renderScreen(() => <History />, {
      backfill_status: () => failed(),
      backfill_plan: () => plan,
      backfill_start: () => ({ code: 'stage_closed', message: 'advance to read_only first' }),
    });
    await screen.findByTestId('history-progress');
    fireEvent.click(screen.getByTestId('plan-read'));
    const button = (await screen.findByTestId('backfill-start-button')) as HTMLButtonElement;
    expect(button.textContent).toBe('Resume the backfill');
    fireEvent.input(screen.getByTestId('backfill-start-input'), { target: { value: 'backfill' } });
    fireEvent.click(button);
    const error = await screen.findByTestId('backfill-start-error');
    expect(error.dataset.code).toBe('stage_closed');
  });

  it('offers start, resume or nothing by the status', () => {
    const base = failed();
    expect(startAction(undefined)).toBeNull();
    expect(startAction({ ...base, started: false, phase: null })).toBe('Start the backfill');
    expect(startAction({ ...base, running: false })).toBe('Resume the backfill');
    expect(startAction({ ...base, running: true })).toBeNull();
    expect(startAction({ ...base, phase: 'done' })).toBeNull();
  });
});
