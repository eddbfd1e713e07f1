import { createEffect, createResource, createSignal, For, on, Show } from 'solid-js';
import { AppError } from '../api/error';
import type { Advanced, RolledBack, StageInfo, TransitionView } from '../api/types';
import { Confirm } from '../components/Confirm';
import { ErrorNote } from '../components/ErrorNote';
import { useApp } from '../context';
import { checkValue, count, duration, shortHash, utc, utcMs, words } from '../view/format';
import { advanceBlockers, advancePhrase, rollbackPhrase, STAGE_LABEL } from '../view/wizard';

function stageState(stage: StageInfo, current: number, index: number): string {
  if (stage.current) return 'current';
  return index < current ? 'done' : 'ahead';
}

/** A fall back's or hold's detail: check, value, threshold, window (plus anything else said). */
function StopDetail(props: { transition: TransitionView }) {
  const detail = (): Record<string, unknown> => {
    const d = props.transition.detail;
    return typeof d === 'object' && d !== null && !Array.isArray(d) ? d : {};
  };
  const field = (name: string) => {
    const value = detail()[name];
    return value === undefined || value === null ? '—' : String(value);
  };
  return (
    <li data-testid="stop" data-kind={props.transition.kind}>
      <strong>{words(props.transition.kind)}</strong> {utc(props.transition.at)}:{' '}
      {STAGE_LABEL[props.transition.from]} → {STAGE_LABEL[props.transition.to]} (by {props.transition.actor})
      <dl class="inline">
        <dt>check</dt>
        <dd data-testid="stop-check">{field('check')}</dd>
        <dt>value</dt>
        <dd data-testid="stop-value">{field('value')}</dd>
        <dt>threshold</dt>
        <dd data-testid="stop-threshold">{field('threshold')}</dd>
        <dt>window</dt>
        <dd data-testid="stop-window">{field('window_secs')} s</dd>
        <Show when={detail()['reason'] !== undefined}>
          <dt>reason</dt>
          <dd>{field('reason')}</dd>
        </Show>
      </dl>
    </li>
  );
}

/** Screen 2: the staged cutover, with advance and rollback bound to the reviewed plan. */
export function Wizard() {
  const app = useApp();
  const [stage, { refetch: refetchStage }] = createResource(() => app.client.call({ op: 'stage' }));
  const [plan, { refetch: refetchPlan }] = createResource(() => app.client.call({ op: 'stage_plan' }));
  const [busy, setBusy] = createSignal(false);
  const [actionError, setActionError] = createSignal<unknown>();
  const [advanced, setAdvanced] = createSignal<Advanced>();
  const [rolled, setRolled] = createSignal<RolledBack>();

  const reload = async () => {
    await Promise.all([refetchStage(), refetchPlan()]);
  };

  // A check can move the stage on its own (fall back, hold): reload when the live status says so.
  createEffect(
    on(
      () => app.status()?.stage,
      (now, before) => {
        if (before !== undefined && now !== before) void reload();
      },
    ),
  );

  const act = async (run: () => Promise<void>) => {
    setBusy(true);
    setActionError(undefined);
    try {
      await run();
    } catch (error) {
      setActionError(error);
    } finally {
      // Busy until the new stage and plan are on screen: the old plan is never actionable again.
      await reload();
      setBusy(false);
    }
  };

  const advance = (planHash: string) =>
    act(async () => {
      setRolled(undefined);
      setAdvanced(await app.client.call({ op: 'advance', plan_hash: planHash }));
    });
  const rollback = () =>
    act(async () => {
      setAdvanced(undefined);
      setRolled(await app.client.call({ op: 'rollback' }));
    });
  const acknowledge = () =>
    act(async () => {
      await app.client.call({ op: 'acknowledge' });
    });

  // The store moved on between the review and the advance: the plan is reloaded by `act`.
  const movedOn = () => {
    const error = actionError();
    return error !== undefined && AppError.from(error).code === 'plan_moved';
  };

  const currentIndex = () => stage()?.stages.findIndex((s) => s.current) ?? -1;
  const stops = () =>
    (stage()?.last_transitions ?? []).filter((t) => t.kind === 'fall_back' || t.kind === 'hold').reverse();

  return (
    <section aria-labelledby="wizard-title" data-testid="screen-wizard">
      <h1 id="wizard-title">Cutover</h1>
      <Show when={stage.error}>
        <ErrorNote error={stage.error} />
      </Show>
      <Show when={plan.error}>
        <ErrorNote error={plan.error} />
      </Show>
      <Show when={stage()}>
        {(s) => (
          <>
            <ol class="stages" data-testid="stages" aria-label="Stages">
              <For each={s().stages}>
                {(info, i) => (
                  <li
                    class={`stage ${stageState(info, currentIndex(), i())}`}
                    data-testid={`stage-${info.stage}`}
                    data-state={stageState(info, currentIndex(), i())}
                    aria-current={info.current ? 'step' : undefined}
                  >
                    <span class="stage-name">{STAGE_LABEL[info.stage]}</span>
                    <span class="stage-tag">{stageState(info, currentIndex(), i())}</span>
                    <span class="stage-meta">
                      {info.lanes.length ? info.lanes.join(', ') : 'no lanes'} · {info.ceiling_percent} %
                    </span>
                  </li>
                )}
              </For>
            </ol>
            <p data-testid="current-stage">
              Now: <strong>{STAGE_LABEL[s().stage]}</strong>
              {s().entered_at ? `, since ${utc(s().entered_at)}` : ' (configured start stage, not recorded yet)'}.
              Lanes delivering: {s().lanes_open.join(', ') || 'none'}; Bloomreach ceiling {s().ceiling_percent} %.
            </p>
            <Show when={s().hold}>
              {(hold) => (
                <div class="warning" role="status" data-testid="hold">
                  <strong>Held by {hold().check}</strong> since {utc(hold().since)}: {hold().reason}
                  <button type="button" data-testid="acknowledge" disabled={busy()} onClick={() => void acknowledge()}>
                    Acknowledge the hold
                  </button>
                </div>
              )}
            </Show>
            <Show when={stops().length > 0}>
              <div class="panel" data-testid="why-stopped">
                <h2>Why it stopped</h2>
                <ul>
                  <For each={stops()}>{(t) => <StopDetail transition={t} />}</For>
                </ul>
              </div>
            </Show>
            <Show when={s().last_evaluation}>
              {(ev) => (
                <div class="panel">
                  <h2>Checks on this stage</h2>
                  <p>
                    Last round {utc(ev().at)}: decision <strong data-testid="decision">{words(ev().decision.decision)}</strong>.
                  </p>
                  <table data-testid="check-results">
                    <thead>
                      <tr><th>check</th><th>mode</th><th>outcome</th><th>value</th><th>threshold</th><th>window</th><th>what it saw</th></tr>
                    </thead>
                    <tbody>
                      <For each={ev().results}>
                        {(r) => (
                          <tr data-testid={`check-${r.check}`} data-outcome={r.outcome}>
                            <td>{words(r.check)}</td>
                            <td>{r.mode}</td>
                            <td class={`outcome ${r.outcome}`}>{r.outcome.toUpperCase()}</td>
                            <td>{checkValue(r.value, r.unit)}</td>
                            <td>{checkValue(r.threshold, r.unit)}</td>
                            <td>{r.window_secs} s</td>
                            <td>{r.reason}</td>
                          </tr>
                        )}
                      </For>
                    </tbody>
                  </table>
                </div>
              )}
            </Show>
          </>
        )}
      </Show>

      <Show when={actionError()}>
        <ErrorNote error={actionError()} testid="action-error" />
      </Show>
      <Show when={movedOn() && !busy() && plan()}>
        {(p) => (
          <div class="panel" role="alert" data-testid="plan-moved">
            <p>
              The store moved on after you reviewed the plan (in a busy shop every order can move it), so
              nothing was applied. The plan below is the new one, <code>{shortHash(p().advance.plan_hash)}</code>: review
              it, then advance with it.
            </p>
            <button
              type="button"
              data-testid="advance-new-plan"
              disabled={busy()}
              onClick={() => void advance(p().advance.plan_hash)}
            >
              Advance to {p().advance.to ? STAGE_LABEL[p().advance.to!] : '—'} with this new plan
            </button>
          </div>
        )}
      </Show>
      <Show when={advanced()}>
        {(a) => (
          <p class="ok" role="status" data-testid="advanced">
            Advanced from {STAGE_LABEL[a().from]} to {STAGE_LABEL[a().to]} at {utc(a().at)} with plan{' '}
            <code>{shortHash(a().plan_hash)}</code>: opened {a().lanes_opened.join(', ') || 'no lanes'},{' '}
            {count(a().starts_flowing)} commands started flowing.
          </p>
        )}
      </Show>
      <Show when={rolled()}>
        {(r) => (
          <div class="ok" role="status" data-testid="rolled-back">
            Rolled back from {STAGE_LABEL[r().from]} to {STAGE_LABEL[r().to]} at {utc(r().at)}.
            <table>
              <thead><tr><th>lane closed</th><th>queued, kept</th><th>already sent</th></tr></thead>
              <tbody>
                <For each={r().lanes_closed}>
                  {(l) => (
                    <tr data-testid={`closed-${l.lane}`}>
                      <td>{l.lane}</td>
                      <td data-testid="queued-kept">{count(l.queued_kept)}</td>
                      <td>{count(l.already_sent)}</td>
                    </tr>
                  )}
                </For>
              </tbody>
            </table>
            <p>{r().cannot_undo}</p>
          </div>
        )}
      </Show>

      <Show when={plan() && stage()}>
        {(_) => {
          const p = () => plan()!;
          const blockers = () => advanceBlockers(stage()!, p());
          const opens = () => p().advance.lanes.filter((l) => l.change === 'opens');
          return (
            <>
              <div class="panel" data-testid="plan">
                <h2>
                  Next: {p().advance.to ? STAGE_LABEL[p().advance.to!] : 'nothing (last stage)'}
                </h2>
                <p data-testid="next-opens">
                  Opens {opens().map((l) => l.lane).join(', ') || 'no lanes'}; Bloomreach ceiling{' '}
                  {p().advance.ceiling_percent_from} % → {p().advance.ceiling_percent_to} % (
                  {p().advance.bloomreach_requests_per_second_to} requests/s).{' '}
                  {count(p().advance.starts_flowing)} queued commands start flowing.
                </p>
                <h3>Gate</h3>
                <ul class="gate" data-testid="gate">
                  <li data-testid="gate-preflight" data-ok={String(!p().advance.needs_preflight || !!p().advance.preflight?.passed)}>
                    <Show when={p().advance.needs_preflight} fallback={<>Preflight: not needed for this stage.</>}>
                      <Show when={p().advance.preflight} fallback={<><strong>BLOCKED</strong> no preflight has run.</>}>
                        {(pf) => (
                          <>
                            Preflight {pf().passed ? <strong>PASSED</strong> : <strong>FAILED</strong>} at {utcMs(pf().ran_at_ms)}
                            {pf().blocking.length ? `; blocking: ${pf().blocking.join(', ')}` : ''} (digest{' '}
                            <code>{shortHash(pf().digest)}</code>)
                          </>
                        )}
                      </Show>
                    </Show>
                  </li>
                  <For each={p().checks_after}>
                    {(c) => (
                      <li>
                        After advancing, <strong>{words(c.check)}</strong> is watched ({c.mode === 'enforce' ? 'enforced: a failure falls back' : 'observed: a failure holds for a person'}),
                        threshold {checkValue(c.threshold, c.unit)} over {c.window_secs} s.
                      </li>
                    )}
                  </For>
                </ul>
                <h3>Plan</h3>
                <table data-testid="plan-lanes">
                  <thead>
                    <tr>
                      <th>lane</th><th>change</th><th>queued</th><th>oldest</th>
                      <th>Bloomreach requests</th><th>seconds at ceiling</th><th>BigCommerce requests</th>
                    </tr>
                  </thead>
                  <tbody>
                    <For each={p().advance.lanes}>
                      {(l) => (
                        <tr data-testid={`plan-${l.lane}`} data-change={l.change}>
                          <td>{l.lane}</td>
                          <td>{words(l.change)}</td>
                          <td data-testid="queued">{count(l.queued)}</td>
                          <td>{duration(l.oldest_age_ms)}</td>
                          <td>{l.cost ? count(l.cost.bloomreach_requests) : '—'}</td>
                          <td>{l.cost ? count(l.cost.bloomreach_secs_at_ceiling) : '—'}</td>
                          <td>{l.cost ? count(l.cost.bigcommerce_requests) : '—'}</td>
                        </tr>
                      )}
                    </For>
                  </tbody>
                  <tfoot>
                    <tr>
                      <th scope="row" colspan="2">starts flowing</th>
                      <td>{count(p().advance.starts_flowing)}</td>
                      <td />
                      <td>{count(p().advance.cost.bloomreach_requests)}</td>
                      <td>{count(p().advance.cost.bloomreach_secs_at_ceiling)}</td>
                      <td>{count(p().advance.cost.bigcommerce_requests)}</td>
                    </tr>
                  </tfoot>
                </table>
                <p>
                  Plan hash <code data-testid="plan-hash">{shortHash(p().advance.plan_hash)}</code>: the advance applies exactly
                  this plan, and is refused if the store moved on since.{' '}
                  <button type="button" data-testid="refresh-plan" onClick={() => void reload()}>
                    Refresh the plan
                  </button>
                </p>
                <Show when={blockers().length > 0}>
                  <ul class="blockers" data-testid="advance-blockers">
                    <For each={blockers()}>{(b) => <li>{b}</li>}</For>
                  </ul>
                </Show>
                <Confirm
                  id="advance"
                  phrase={advancePhrase(p())}
                  bindTo={p().advance.plan_hash}
                  action={`Advance to ${p().advance.to ? STAGE_LABEL[p().advance.to!] : '—'}`}
                  busy={busy()}
                  disabled={blockers().length > 0}
                  onConfirm={() => void advance(p().advance.plan_hash)}
                />
              </div>
              <Show when={p().rollback}>
                {(rb) => (
                  <div class="panel" data-testid="rollback">
                    <h2>Roll back to {STAGE_LABEL[rb().to]}</h2>
                    <p>Closing lanes keep their queues; nothing queued is dropped.</p>
                    <table data-testid="rollback-lanes">
                      <thead><tr><th>lane</th><th>stays queued</th><th>already sent (in Bloomreach for good)</th></tr></thead>
                      <tbody>
                        <For each={rb().lanes_closing}>
                          {(l) => (
                            <tr data-testid={`rollback-${l.lane}`}>
                              <td>{l.lane}</td>
                              <td>{count(l.queued_kept)}</td>
                              <td data-testid="already-sent">{count(l.already_sent)}</td>
                            </tr>
                          )}
                        </For>
                      </tbody>
                    </table>
                    <p class="note" data-testid="cannot-undo">{rb().cannot_undo}</p>
                    <Confirm
                      id="rollback"
                      phrase={rollbackPhrase(p())}
                      bindTo={p().advance.plan_hash}
                      action={`Roll back to ${STAGE_LABEL[rb().to]}`}
                      busy={busy()}
                      onConfirm={() => void rollback()}
                    />
                  </div>
                )}
              </Show>
            </>
          );
        }}
      </Show>
    </section>
  );
}
