import { fireEvent, screen, waitFor } from '@solidjs/testing-library';
import { describe, expect, it } from 'vitest';
import type { Advanced, RolledBack } from '../src/api/types';
import { Wizard } from '../src/screens/Wizard';
import { advanceBlockers } from '../src/view/wizard';
import { snapshot, stageAtPreflight, stagePlan, status } from './fixtures';
import { renderScreen } from './render';

const type = (testid: string, text: string) =>
  fireEvent.input(screen.getByTestId(testid), { target: { value: text } });

describe('cutover wizard', () => {
  it('highlights the current stage and says what the next one opens', async () => {
    renderScreen(() => <Wizard />, { stage: () => stageAtPreflight(), stage_plan: () => stagePlan() });
    const current = await screen.findByTestId('stage-preflight');
    expect(current.getAttribute('aria-current')).toBe('step');
    expect(current.textContent).toContain('current');
    expect(screen.getByTestId('stage-connect').dataset.state).toBe('done');
    expect(screen.getByTestId('stage-read_only').dataset.state).toBe('ahead');
    expect(screen.getByTestId('next-opens').textContent).toContain('Opens customers, catalog, backfill');
    expect(screen.getByTestId('next-opens').textContent).toContain('0 % → 50 %');
    // The plan preview: per lane queued and cost.
    expect(screen.getByTestId('plan-transactions').dataset.change).toBe('stays_closed');
    expect(screen.getByTestId('plan-transactions').querySelector('[data-testid=queued]')?.textContent).toBe('1');
    expect(screen.getByTestId('plan-hash').textContent).toBe('3f3fa34eadab');
  });

  it('advances only after the next stage name is typed, with the reviewed plan hash', async () => {
    const advanced = snapshot<Advanced>('cutover__tests__advanced');
    const { fake } = renderScreen(() => <Wizard />, {
      stage: () => stageAtPreflight(),
      stage_plan: () => stagePlan(),
      advance: () => advanced,
    });
    const button = (await screen.findByTestId('advance-button')) as HTMLButtonElement;
    expect(button.disabled).toBe(true);
    type('advance-input', 'ingest');
    expect(button.disabled).toBe(true);
    type('advance-input', 'read_only');
    expect(button.disabled).toBe(false);
    fireEvent.click(button);
    await screen.findByTestId('advanced');
    expect(fake.calls).toContainEqual({
      op: 'advance',
      plan_hash: '3f3fa34eadab88469ade637d366ef8843fb0b8dab373f7cc7ca70b34e21e8e81',
    });
  });

  it('after an advance, the typed name never re-arms the button while the next plan loads', async () => {
    const advanced = snapshot<Advanced>('cutover__tests__advanced');
    let release: () => void = () => {};
    let plans = 0;
    renderScreen(() => <Wizard />, {
      stage: () => stageAtPreflight(),
      stage_plan: () => {
        plans += 1;
        if (plans === 1) return stagePlan();
        // The reload after the advance is slow: the old plan stays on screen meanwhile.
        return new Promise((resolve) => {
          release = () => {
            const next = stagePlan();
            next.advance.plan_hash = 'c'.repeat(64);
            resolve(next);
          };
        });
      },
      advance: () => advanced,
    });
    const button = (await screen.findByTestId('advance-button')) as HTMLButtonElement;
    type('advance-input', 'read_only');
    fireEvent.click(button);
    await screen.findByTestId('advanced');
    await waitFor(() => expect(plans).toBe(2));
    expect((screen.getByTestId('advance-input') as HTMLInputElement).value).toBe('');
    expect(button.disabled).toBe(true);
    release();
    await waitFor(() => expect(screen.getByTestId('plan-hash').textContent).toBe('cccccccccccc'));
    expect((screen.getByTestId('advance-button') as HTMLButtonElement).disabled).toBe(true);
  });

  it('clears the confirmation when the plan changes under it', async () => {
    let hash = 'a'.repeat(64);
    renderScreen(() => <Wizard />, {
      stage: () => stageAtPreflight(),
      stage_plan: () => {
        const plan = stagePlan();
        plan.advance.plan_hash = hash;
        return plan;
      },
    });
    await screen.findByTestId('advance-input');
    type('advance-input', 'read_only');
    expect((screen.getByTestId('advance-button') as HTMLButtonElement).disabled).toBe(false);
    hash = 'b'.repeat(64);
    fireEvent.click(screen.getByTestId('refresh-plan'));
    await waitFor(() => expect(screen.getByTestId('plan-hash').textContent).toBe('bbbbbbbbbbbb'));
    expect((screen.getByTestId('advance-input') as HTMLInputElement).value).toBe('');
    expect((screen.getByTestId('advance-button') as HTMLButtonElement).disabled).toBe(true);
  });

  it('keeps advance off while the newest preflight failed, and says why', async () => {
    const plan = stagePlan();
    plan.advance.preflight = { passed: false, digest: 'ff'.repeat(32), blocking: ['storefront-csp-script-src'], ran_at_ms: 0 };
    renderScreen(() => <Wizard />, { stage: () => stageAtPreflight(), stage_plan: () => plan });
    const blockers = await screen.findByTestId('advance-blockers');
    expect(blockers.textContent).toContain('storefront-csp-script-src');
    type('advance-input', 'read_only');
    expect((screen.getByTestId('advance-button') as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByTestId('gate-preflight').dataset.ok).toBe('false');
  });

  it('reloads when the live status shows the stage moved on its own (a fall back)', async () => {
    let current = snapshot<ReturnType<typeof stageAtPreflight>>('cutover__tests__stage');
    const { fake, setStatus } = renderScreen(() => <Wizard />, { stage: () => current, stage_plan: () => stagePlan() });
    await screen.findByTestId('stage-read_only');
    const live = status();
    live.stage = 'read_only';
    setStatus(live);
    current = stageAtPreflight();
    setStatus({ ...live, stage: 'preflight' });
    await waitFor(() => expect(screen.getByTestId('stage-preflight').getAttribute('aria-current')).toBe('step'));
    expect(fake.calls.filter((c) => c.op === 'stage').length).toBe(2);
  });

  it('lists stage gating reasons as plain view logic', () => {
    const held = stageAtPreflight();
    held.hold = { check: 'identity_conflicts', reason: '2 conflicts', since: '2026-01-01T00:00:00Z' };
    const plan = stagePlan();
    plan.advance.preflight = null;
    expect(advanceBlockers(held, plan)).toEqual([
      'A check holds the stage (identity_conflicts): acknowledge the hold first.',
      'No preflight has run: run the preflight on the Connection screen.',
    ]);
    expect(advanceBlockers(stageAtPreflight(), stagePlan())).toEqual([]);
    const last = stagePlan();
    last.advance.to = null;
    expect(advanceBlockers(stageAtPreflight(), last)[0]).toContain('last stage');
  });

  it('shows an advance refusal by its code, and a stale plan reloads', async () => {
    const { fake } = renderScreen(() => <Wizard />, {
      stage: () => stageAtPreflight(),
      stage_plan: () => stagePlan(),
      advance: () => ({ code: 'plan_moved', message: 'the store moved on since the plan was shown' }),
    });
    await screen.findByTestId('advance-input');
    type('advance-input', 'read_only');
    fireEvent.click(screen.getByTestId('advance-button'));
    const error = await screen.findByTestId('action-error');
    expect(error.dataset.code).toBe('plan_moved');
    expect(fake.calls.filter((c) => c.op === 'stage_plan').length).toBe(2);
  });

  it('after plan_moved, shows the new plan and advances with it in one click', async () => {
    const advanced = snapshot<Advanced>('cutover__tests__advanced');
    const hashes = ['a'.repeat(64), 'b'.repeat(64)];
    let plans = 0;
    let advances = 0;
    const { fake } = renderScreen(() => <Wizard />, {
      stage: () => stageAtPreflight(),
      stage_plan: () => {
        const plan = stagePlan();
        plan.advance.plan_hash = hashes[Math.min(plans++, 1)] ?? '';
        return plan;
      },
      advance: () =>
        advances++ === 0 ? { code: 'plan_moved', message: 'the store moved on since the plan was shown' } : advanced,
    });
    await screen.findByTestId('advance-input');
    type('advance-input', 'read_only');
    fireEvent.click(screen.getByTestId('advance-button'));
    const moved = await screen.findByTestId('plan-moved');
    await waitFor(() => expect(moved.textContent).toContain('bbbbbbbbbbbb'));
    fireEvent.click(screen.getByTestId('advance-new-plan'));
    await screen.findByTestId('advanced');
    expect(fake.calls.filter((c) => c.op === 'advance')).toEqual([
      { op: 'advance', plan_hash: hashes[0] },
      { op: 'advance', plan_hash: hashes[1] },
    ]);
    expect(screen.queryByTestId('plan-moved')).toBeNull();
  });

  it('rolls back with a typed confirmation, listing what was already sent and what stays queued', async () => {
    const rolled = snapshot<RolledBack>('cutover__tests__rolled_back');
    rolled.lanes_closed[0]!.queued_kept = 7;
    const plan = stagePlan();
    plan.rollback = {
      from: 'read_only',
      to: 'preflight',
      lanes_closing: [{ lane: 'customers', queued_kept: 7, already_sent: 12 }],
      cannot_undo: rolled.cannot_undo,
    };
    const { fake } = renderScreen(() => <Wizard />, {
      stage: () => snapshot('cutover__tests__stage'),
      stage_plan: () => plan,
      rollback: () => rolled,
    });
    const row = await screen.findByTestId('rollback-customers');
    expect(row.querySelector('[data-testid=already-sent]')?.textContent).toBe('12');
    expect(screen.getByTestId('cannot-undo').textContent).toContain('Bloomreach has no event delete');
    const button = screen.getByTestId('rollback-button') as HTMLButtonElement;
    type('rollback-input', 'read_only');
    expect(button.disabled).toBe(true);
    type('rollback-input', 'preflight');
    fireEvent.click(button);
    const done = await screen.findByTestId('rolled-back');
    expect(done.querySelector('[data-testid=closed-customers] [data-testid=queued-kept]')?.textContent).toBe('7');
    expect(fake.calls).toContainEqual({ op: 'rollback' });
  });

  it('says why it fell back (check, value, threshold, window) and acknowledges a hold', async () => {
    const s = snapshot<ReturnType<typeof stageAtPreflight>>('cutover__tests__stage');
    s.last_transitions.push({
      seq: 3,
      at: '2025-12-01T00:05:00Z',
      actor: 'appliance',
      kind: 'fall_back',
      from: 'ingest',
      to: 'read_only',
      detail: { check: 'rate_limited', value: 0.31, threshold: 0.05, window_secs: 300 },
    });
    s.hold = { check: 'identity_conflicts', reason: '3 phones refused to a second person', since: '2025-12-01T00:06:00Z' };
    const { fake } = renderScreen(() => <Wizard />, {
      stage: () => s,
      stage_plan: () => stagePlan(),
      acknowledge: () => ({ stage: 'read_only', cleared: s.hold!, at: '2025-12-01T00:07:00Z' }),
    });
    const stop = await screen.findByTestId('stop');
    expect(stop.dataset.kind).toBe('fall_back');
    expect(stop.querySelector('[data-testid=stop-check]')?.textContent).toBe('rate_limited');
    expect(stop.querySelector('[data-testid=stop-value]')?.textContent).toBe('0.31');
    expect(stop.querySelector('[data-testid=stop-threshold]')?.textContent).toBe('0.05');
    expect(stop.querySelector('[data-testid=stop-window]')?.textContent).toBe('300 s');
    expect(screen.getByTestId('hold').textContent).toContain('3 phones refused');
    fireEvent.click(screen.getByTestId('acknowledge'));
    await waitFor(() => expect(fake.calls).toContainEqual({ op: 'acknowledge' }));
  });
});
