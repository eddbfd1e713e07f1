import { render } from '@solidjs/testing-library';
import { createSignal, type JSX } from 'solid-js';
import { Client, fakeTransport, type FakeHandlers, type FakeTransport, type Op } from '../src/api';
import type { ErrorRunbooks, Status } from '../src/api/types';
import { AppContext } from '../src/context';
import { OPS_IN_MAIN } from '../src/screens/registry';

export interface Harness {
  fake: FakeTransport;
  setStatus: (status: Status) => void;
}

/** Renders a screen with the fake transport and a status signal the test drives. */
export function renderScreen(
  screen: () => JSX.Element,
  handlers: FakeHandlers,
  options: { ops?: ReadonlySet<Op>; errorRunbooks?: ErrorRunbooks } = {},
): Harness & ReturnType<typeof render> {
  const fake = fakeTransport(handlers);
  const client = new Client(fake);
  const [status, setStatus] = createSignal<Status>();
  const result = render(() => (
    <AppContext.Provider
      value={{
        client,
        status,
        errorRunbooks: () => options.errorRunbooks,
        ops: options.ops ?? OPS_IN_MAIN,
      }}
    >
      {screen()}
    </AppContext.Provider>
  ));
  return { ...result, fake, setStatus };
}
