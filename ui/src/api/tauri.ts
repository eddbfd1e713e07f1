import { Channel, invoke } from '@tauri-apps/api/core';
import type { Transport } from './transport';
import type { Operation, Status } from './types';

/** Whether the page runs inside the Tauri window. */
export function inTauri(win: Window = window): boolean {
  return '__TAURI_INTERNALS__' in win;
}

/** Tauri IPC: `invoke('api', {operation})`, live status over a `Channel`. No token. */
export function tauriTransport(): Transport {
  return {
    kind: 'tauri',
    call(operation: Operation): Promise<unknown> {
      return invoke('api', { operation });
    },
    subscribe(onStatus: (status: Status) => void, onError?: (error: unknown) => void) {
      let stopped = false;
      const channel = new Channel<Status>();
      channel.onmessage = (status) => {
        if (!stopped) onStatus(status);
      };
      invoke('subscribe_status', { onStatus: channel }).catch((error: unknown) => {
        if (!stopped) onError?.(error);
      });
      return () => {
        stopped = true;
      };
    },
    async openInBrowser(): Promise<void> {
      await invoke('open_in_browser');
    },
  };
}
