import { createSignal, For, Show } from 'solid-js';
import type { RehearsalKind, RehearsalReport } from '../api/types';
import { ErrorNote } from '../components/ErrorNote';
import { useApp } from '../context';

/** Screen 9: rehearse the cutover or the demo against the twins, and show the verdict. */
export function Rehearsal() {
  const app = useApp();
  const [answer, setAnswer] = createSignal<RehearsalReport>();
  const [running, setRunning] = createSignal<RehearsalKind>();
  const [error, setError] = createSignal<unknown>();

  const run = async (kind: RehearsalKind) => {
    setRunning(kind);
    setError(undefined);
    setAnswer(undefined);
    try {
      setAnswer(await app.client.call({ op: 'rehearse', kind }));
    } catch (e) {
      setError(e);
    } finally {
      setRunning(undefined);
    }
  };

  return (
    <section aria-labelledby="rehearsal-title" data-testid="screen-rehearsal">
      <h1 id="rehearsal-title">Rehearsal</h1>
      <p>
        Runs against the twins (simulated BigCommerce and Bloomreach), never the real services: the cutover rehearsal advances
        through every stage, rolls back and advances again; the demo trades a small store end to end.
      </p>
      <div class="toolbar">
        <button type="button" data-testid="rehearse-cutover" disabled={running() !== undefined} onClick={() => void run('cutover')}>
          {running() === 'cutover' ? 'Rehearsing…' : 'Rehearse the cutover'}
        </button>
        <button type="button" data-testid="rehearse-demo" disabled={running() !== undefined} onClick={() => void run('demo')}>
          {running() === 'demo' ? 'Running…' : 'Run the demo'}
        </button>
      </div>
      <Show when={error()}>
        <ErrorNote error={error()} />
      </Show>
      <Show when={answer()}>
        {(a) => (
          <div class={`panel ${a().passed ? 'ok' : 'warning'}`} data-testid="rehearsal-verdict" data-passed={String(a().passed)}>
            <p>
              <strong>{a().passed ? 'PASSED' : 'FAILED'}</strong> ({a().kind}, {a().seconds.toFixed(1)} s): {a().summary}
            </p>
            <ol class="log">
              <For each={a().lines}>{(line) => <li>{line}</li>}</For>
            </ol>
          </div>
        )}
      </Show>
    </section>
  );
}
