// Test data from the Rust side's own JSON snapshots (crates/core/src/app/snapshots), so a shape
// change there shows up here; the contract additions are filled in per test.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type {
  DeadLetter, PreflightReport, StagePlanAnswer, StageStatus, Status, Trace,
} from '../src/api/types';

// vitest runs in ui/.
const DIR = resolve(process.cwd(), '../crates/core/src/app/snapshots');

/** The JSON of `bigreach_core__app__<name>.snap`. */
export function snapshot<T>(name: string): T {
  const text = readFileSync(resolve(DIR, `bigreach_core__app__${name}.snap`), 'utf8');
  const body = text.replace(/^---\n[\s\S]*?\n---\n/, '');
  return JSON.parse(body) as T;
}

export const clone = <T,>(value: T): T => structuredClone(value);

export const stage = (): StageStatus => clone(snapshot<StageStatus>('cutover__tests__stage'));
export const stagePlan = (): StagePlanAnswer => clone(snapshot<StagePlanAnswer>('cutover__tests__stage_plan'));
export const status = (): Status => clone(snapshot<Status>('tests__status'));
export const trace = (): Trace => clone(snapshot<Trace>('tests__trace'));
export const deadLetters = (): DeadLetter[] => clone(snapshot<DeadLetter[]>('tests__dead_letters'));
export const preflight = (): PreflightReport => clone(snapshot<PreflightReport>('preflight__tests__preflight_report'));

/** The stage as the plan snapshot sees it: at `preflight`, about to open read_only. */
export function stageAtPreflight(): StageStatus {
  const s = stage();
  s.stage = 'preflight';
  s.lanes_open = [];
  s.ceiling_percent = 0;
  s.stages = s.stages.map((info) => ({ ...info, current: info.stage === 'preflight' }));
  return s;
}
