import type { Operation, Status } from './types';

/** How the client reaches the app API: HTTP to `bigreach serve`, Tauri IPC, or a fake in tests. */
export interface Transport {
  /** Which one (the UI shows "Open in browser" only in `tauri`). */
  readonly kind: 'http' | 'tauri' | 'fake';
  /** One operation; resolves with the answer JSON, rejects with an `AppError`. */
  call(operation: Operation): Promise<unknown>;
  /** Live status, about once a second; returns the function that stops it. */
  subscribe(onStatus: (status: Status) => void, onError?: (error: unknown) => void): () => void;
  /** Desktop only: opens the same UI over HTTP in the default browser. */
  openInBrowser?(): Promise<void>;
  /** HTTP only: a URL with the token that downloads an exported audit bundle. */
  download?(path: string): Promise<Blob>;
}
