import { createContext, useContext, type Accessor } from 'solid-js';
import type { Client, Op } from './api';
import type { ErrorRunbooks, Status } from './api/types';

/** What every screen gets: the client, the live status, and the error → runbook map. */
export interface AppContextValue {
  client: Client;
  status: Accessor<Status | undefined>;
  errorRunbooks: Accessor<ErrorRunbooks | undefined>;
  /** The operations the appliance answers (screens fall back or hide what is missing). */
  ops: ReadonlySet<Op>;
}

export const AppContext = createContext<AppContextValue>();

export function useApp(): AppContextValue {
  const value = useContext(AppContext);
  if (!value) throw new Error('useApp outside <AppContext.Provider>');
  return value;
}
