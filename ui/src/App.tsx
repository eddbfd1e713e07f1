import { createEffect, createResource, createSignal, For, Match, onCleanup, onMount, Show, Switch } from 'solid-js';
import { AppError } from './api/error';
import { type Client, type Op } from './api';
import type { Status } from './api/types';
import { AppContext } from './context';
import { parseRoute } from './route';
import { Audit } from './screens/Audit';
import { Connection } from './screens/Connection';
import { DeadLetters } from './screens/DeadLetters';
import { History } from './screens/History';
import { Live } from './screens/Live';
import { Reconcile } from './screens/Reconcile';
import { Rehearsal } from './screens/Rehearsal';
import { Runbooks } from './screens/Runbooks';
import { Trace } from './screens/Trace';
import { Wizard } from './screens/Wizard';
import { availableScreens, OPS_IN_MAIN, type ScreenId } from './screens/registry';
import { STAGE_LABEL } from './view/wizard';

/** The shell: navigation, the live status subscription, and the current screen. */
export function App(props: { client: Client; ops?: ReadonlySet<Op> }) {
  // Fixed for the page's life: the transport and the appliance's operations do not change.
  // eslint-disable-next-line solid/reactivity
  const { client, ops: given } = props;
  const ops = () => given ?? OPS_IN_MAIN;
  const screens = () => availableScreens(ops());
  const [status, setStatus] = createSignal<Status>();
  const [streamError, setStreamError] = createSignal<string>();
  const [hash, setHash] = createSignal(window.location.hash);
  const [openError, setOpenError] = createSignal<string>();
  // A window without a config opens on the Connection screen: nothing else can answer yet.
  const [connection] = createResource(
    () => ops().has('connection') || undefined,
    () => client.call({ op: 'connection' }).catch(() => undefined),
  );
  createEffect(() => {
    const info = connection();
    if (info && !info.configured && /^#?(\/wizard)?$/.test(window.location.hash)) {
      window.location.hash = '#/connection';
    }
  });
  const [errorRunbooks] = createResource(
    () => ops().has('error_runbooks') || undefined,
    () => client.call({ op: 'error_runbooks' }).catch(() => undefined),
  );

  onMount(() => {
    const onHash = () => setHash(window.location.hash);
    window.addEventListener('hashchange', onHash);
    const stop = client.subscribe(
      (s) => {
        setStreamError(undefined);
        setStatus(s);
      },
      (e) => setStreamError(`${e.code}: ${e.message}`),
    );
    onCleanup(() => {
      window.removeEventListener('hashchange', onHash);
      stop();
    });
  });

  const route = () => {
    const r = parseRoute(hash(), 'wizard');
    return screens().some((s) => s.id === r.screen) ? r : { screen: 'wizard' as ScreenId, args: [] };
  };

  return (
    <AppContext.Provider value={{ client, status, errorRunbooks, ops: given ?? OPS_IN_MAIN }}>
      <header class="top">
        <span class="brand">BigReach</span>
        <nav aria-label="Screens">
          <ul>
            <For each={screens()}>
              {(s) => (
                <li>
                  <a href={`#/${s.id}`} data-testid={`nav-${s.id}`} aria-current={route().screen === s.id ? 'page' : undefined}>
                    {s.title}
                  </a>
                </li>
              )}
            </For>
          </ul>
        </nav>
        <span class="status-line" data-testid="status-line" role="status">
          <Show
            when={status()}
            fallback={
              connection()?.configured === false
                ? 'Not connected yet'
                : streamError()
                  ? `Live status lost: ${streamError()}`
                  : 'Connecting…'
            }
          >
            {(s) => (
              <>
                Stage <strong>{STAGE_LABEL[s().stage]}</strong>
                {s().alerts.length ? ` · ${s().alerts.length} alert(s) ⚠` : ' · no alerts'}
              </>
            )}
          </Show>
        </span>
        <Show when={client.transport.openInBrowser}>
          {(open) => (
            <>
              <button
                type="button"
                data-testid="open-in-browser"
                onClick={() => {
                  setOpenError(undefined);
                  open()().catch((e: unknown) => {
                    const error = AppError.from(e);
                    setOpenError(`${error.code}: ${error.message}`);
                  });
                }}
              >
                Open in browser
              </button>
              <Show when={openError()}>
                <span class="open-error" role="alert" data-testid="open-error">{openError()}</span>
              </Show>
            </>
          )}
        </Show>
      </header>
      <main>
        <Switch>
          <Match when={route().screen === 'connection'}><Connection /></Match>
          <Match when={route().screen === 'wizard'}><Wizard /></Match>
          <Match when={route().screen === 'live'}><Live /></Match>
          <Match when={route().screen === 'trace'}><Trace /></Match>
          <Match when={route().screen === 'dead-letters'}><DeadLetters /></Match>
          <Match when={route().screen === 'reconcile'}><Reconcile /></Match>
          <Match when={route().screen === 'history'}><History /></Match>
          <Match when={route().screen === 'audit'}><Audit /></Match>
          <Match when={route().screen === 'runbooks'}><Runbooks id={route().args[0]} anchor={route().args[1]} /></Match>
          <Match when={route().screen === 'rehearsal'}><Rehearsal /></Match>
        </Switch>
      </main>
    </AppContext.Provider>
  );
}
