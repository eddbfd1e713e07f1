import type { Code } from './types';

/** The app API's error: a stable code plus a human message. Screens branch on `code` only. */
export class AppError extends Error {
  readonly code: Code | 'transport';

  constructor(code: Code | 'transport', message: string) {
    super(message);
    this.name = 'AppError';
    this.code = code;
  }

  /** An `AppError` from whatever a transport rejected with. */
  static from(value: unknown): AppError {
    if (value instanceof AppError) return value;
    if (isErrorBody(value)) return new AppError(value.code as Code, value.message);
    if (value instanceof Error) return new AppError('transport', value.message);
    return new AppError('transport', String(value));
  }
}

function isErrorBody(value: unknown): value is { code: string; message: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { code?: unknown }).code === 'string' &&
    typeof (value as { message?: unknown }).message === 'string'
  );
}
