export { AppError } from './error';
export { Client } from './client';
export type { Op, OperationOf } from './client';
export type { Transport } from './transport';
export { httpTransport, takeToken, TOKEN_KEY } from './http';
export { tauriTransport, inTauri } from './tauri';
export { fakeTransport } from './fake';
export type { FakeTransport, FakeHandlers } from './fake';
