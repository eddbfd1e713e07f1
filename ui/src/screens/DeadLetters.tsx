import { createResource, createSignal, For, Show } from 'solid-js';
import type { DeadLetter } from '../api/types';
import { ErrorNote } from '../components/ErrorNote';
import { useApp } from '../context';
import { count, utc, words } from '../view/format';
import { groupByClass, payloadText } from '../view/dead-letters';
import { runbookFor } from '../view/runbooks';

type Action = 'replay' | 'discard';

interface Preview {
  action: Action;
  letters: DeadLetter[];
}

/** Screen 5: dead letters by reason class; select → preview exactly what goes out → confirm. */
export function DeadLetters() {
  const app = useApp();
  const [letters, { refetch }] = createResource(() => app.client.call({ op: 'dead_letters' }));
  const [selected, setSelected] = createSignal<ReadonlySet<number>>(new Set());
  const [preview, setPreview] = createSignal<Preview>();
  const [done, setDone] = createSignal<string>();
  const [error, setError] = createSignal<unknown>();
  const [busy, setBusy] = createSignal(false);

  const groups = () => groupByClass(letters() ?? []);
  const ids = () => [...selected()].sort((a, b) => a - b);

  const toggle = (id: number, on: boolean) => {
    const next = new Set(selected());
    if (on) next.add(id);
    else next.delete(id);
    setSelected(next);
    setPreview(undefined);
  };
  const toggleGroup = (group: DeadLetter[], on: boolean) => {
    const next = new Set(selected());
    for (const l of group) {
      if (on) next.add(l.id);
      else next.delete(l.id);
    }
    setSelected(next);
    setPreview(undefined);
  };

  async function showPreview(action: Action) {
    setBusy(true);
    setError(undefined);
    try {
      setDone(undefined);
      // The server's preview changes nothing and answers exactly the letters the action takes.
      const answer = await app.client.call(
        action === 'replay'
          ? { op: 'replay_dead_letters', ids: ids(), preview: true }
          : { op: 'discard_dead_letters', ids: ids(), preview: true },
      );
      setPreview({ action, letters: answer.letters });
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  async function confirm() {
    setBusy(true);
    setError(undefined);
    try {
      const p = preview();
      if (!p) return;
      // Exactly the previewed letters, whatever was ticked since.
      const chosen = p.letters.map((l) => l.id);
      const answer = await app.client.call(
        p.action === 'replay'
          ? { op: 'replay_dead_letters', ids: chosen, preview: false }
          : { op: 'discard_dead_letters', ids: chosen, preview: false },
      );
      setDone(`${p.action === 'replay' ? 'Replayed' : 'Discarded'} ${answer.changed} dead letter(s): ${chosen.join(', ')}.`);
      setPreview(undefined);
      setSelected(new Set<number>());
      await refetch();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="dl-title" data-testid="screen-dead-letters">
      <h1 id="dl-title">Dead letters</h1>
      <Show when={letters.error}>
        <ErrorNote error={letters.error} />
      </Show>
      <Show when={error()}>
        <ErrorNote error={error()} testid="action-error" />
      </Show>
      <Show when={done()}>
        <p class="ok" role="status" data-testid="dl-done">{done()}</p>
      </Show>
      <Show when={letters() && letters()!.length === 0}>
        <p data-testid="dl-empty">No dead letters: everything was delivered or is still on its way.</p>
      </Show>
      <div class="toolbar">
        <span data-testid="dl-selected">{count(selected().size)} selected</span>
        <button type="button" data-testid="preview-replay" disabled={busy() || selected().size === 0} onClick={() => void showPreview('replay')}>
          Preview replay
        </button>
        <button type="button" data-testid="preview-discard" disabled={busy() || selected().size === 0} onClick={() => void showPreview('discard')}>
          Preview discard
        </button>
      </div>
      <Show when={preview()}>
        {(p) => (
          <div class="panel preview" data-testid="dl-preview" data-action={p().action}>
            <h2>
              {p().action === 'replay'
                ? `Replay ${p().letters.length} letter(s): exactly this goes out again, byte for byte`
                : `Discard ${p().letters.length} letter(s): they are given up for good`}
            </h2>
            <For each={p().letters}>
              {(l) => (
                <div class="preview-letter" data-testid={`preview-${l.id}`}>
                  <p>
                    #{l.id} · {l.lane} → {l.destination} · <code>{l.fact}</code> · {l.person ?? 'no person'}
                  </p>
                  <pre class="payload">{payloadText(l.payload)}</pre>
                </div>
              )}
            </For>
            <button type="button" data-testid="dl-confirm" disabled={busy()} onClick={() => void confirm()}>
              {p().action === 'replay' ? `Confirm: replay ${p().letters.length}` : `Confirm: discard ${p().letters.length}`}
            </button>{' '}
            <button type="button" onClick={() => setPreview(undefined)}>
              Cancel
            </button>
          </div>
        )}
      </Show>
      <For each={groups()}>
        {(group) => {
          const link = () => runbookFor(app.errorRunbooks(), 'dead_letter', group.reasonClass);
          const all = () => group.letters.every((l) => selected().has(l.id));
          return (
            <div class="panel" data-testid={`dl-group-${group.reasonClass}`}>
              <h2>
                {words(group.reasonClass)} <span class="count">({group.letters.length})</span>{' '}
                <Show when={link()}>{(href) => <a href={href()} data-testid="dl-runbook">runbook</a>}</Show>
              </h2>
              <label>
                <input type="checkbox" data-testid={`dl-select-group-${group.reasonClass}`} checked={all()} onChange={(e) => toggleGroup(group.letters, e.currentTarget.checked)} />{' '}
                Select all {group.letters.length} in this class
              </label>
              <table>
                <thead>
                  <tr><th>select</th><th>id</th><th>lane</th><th>fact</th><th>person</th><th>reason</th><th>attempts</th><th>enqueued</th><th>payload</th></tr>
                </thead>
                <tbody>
                  <For each={group.letters}>
                    {(l) => (
                      <tr data-testid={`dl-${l.id}`}>
                        <td>
                          <input
                            type="checkbox"
                            id={`dl-check-${l.id}`}
                            data-testid={`dl-check-${l.id}`}
                            aria-label={`select dead letter ${l.id}`}
                            checked={selected().has(l.id)}
                            onChange={(e) => toggle(l.id, e.currentTarget.checked)}
                          />
                        </td>
                        <td>{l.id}</td>
                        <td>{l.lane}</td>
                        <td><code>{l.fact}</code></td>
                        <td>{l.person ?? '—'}</td>
                        <td>{l.reason ?? '—'}</td>
                        <td>{l.attempts}</td>
                        <td>{utc(l.enqueued_at)}</td>
                        <td>
                          <details>
                            <summary>show</summary>
                            <pre class="payload">{payloadText(l.payload)}</pre>
                          </details>
                        </td>
                      </tr>
                    )}
                  </For>
                </tbody>
              </table>
            </div>
          );
        }}
      </For>
    </section>
  );
}
