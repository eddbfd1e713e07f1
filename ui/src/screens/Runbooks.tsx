import { createEffect, createResource, For, Show } from 'solid-js';
import { ErrorNote } from '../components/ErrorNote';
import { useApp } from '../context';
import { runbookRoute } from '../view/runbooks';

/** Screen 8: the runbooks (HTML rendered Rust-side from data/runbooks/*.md), and which error opens which. */
export function Runbooks(props: { id?: string; anchor?: string }) {
  const app = useApp();
  const [books] = createResource(() => app.client.call({ op: 'runbooks' }));
  let body: HTMLElement | undefined;
  const current = () => books()?.find((b) => b.id === props.id) ?? books()?.[0];

  createEffect(() => {
    const book = current();
    if (!body || !book) return;
    // Compiled into the binary from data/runbooks/*.md and rendered there: trusted content, and
    // the page's CSP runs no inline script whatever it holds.
    body.innerHTML = book.html;
    const anchor = props.anchor;
    if (anchor) body.querySelector(`[id="${CSS.escape(anchor)}"]`)?.scrollIntoView?.();
  });

  return (
    <section aria-labelledby="runbooks-title" data-testid="screen-runbooks">
      <h1 id="runbooks-title">Runbooks</h1>
      <Show when={books.error}>
        <ErrorNote error={books.error} />
      </Show>
      <div class="split">
        <nav aria-label="Runbooks" class="side">
          <ul>
            <For each={books()}>
              {(b) => (
                <li>
                  <a href={`#/runbooks/${b.id}`} aria-current={current()?.id === b.id ? 'page' : undefined} data-testid={`runbook-${b.id}`}>
                    {b.title}
                  </a>{' '}
                  <span class="audience">({b.audience})</span>
                </li>
              )}
            </For>
          </ul>
          <Show when={app.errorRunbooks()}>
            {(map) => (
              <>
                <h2>Errors and their runbooks</h2>
                <table data-testid="error-runbooks">
                  <thead><tr><th>error class</th><th>runbook</th></tr></thead>
                  <tbody>
                    <For each={Object.entries(map().links).sort(([a], [b]) => a.localeCompare(b))}>
                      {([cls, target]) => (
                        <tr>
                          <td><code>{cls}</code></td>
                          <td><a href={runbookRoute(target)}>{target}</a></td>
                        </tr>
                      )}
                    </For>
                  </tbody>
                </table>
              </>
            )}
          </Show>
        </nav>
        <article class="runbook" data-testid="runbook-body" data-id={current()?.id ?? ''} ref={(el) => (body = el)} />
      </div>
    </section>
  );
}
