import type { Stage, StagePlanAnswer, StageStatus } from '../api/types';

export const STAGE_LABEL: Record<Stage, string> = {
  connect: 'Connect',
  preflight: 'Preflight',
  read_only: 'Read-only sync',
  ingest: 'Event ingest',
  triggers: 'Production triggers',
};

/** Why "Advance" is off, in words; empty when it may be pressed. */
export function advanceBlockers(stage: StageStatus, plan: StagePlanAnswer): string[] {
  const out: string[] = [];
  const next = plan.advance.to;
  if (next === null) out.push('This is the last stage; there is nothing to advance to.');
  if (stage.hold) {
    out.push(`A check holds the stage (${stage.hold.check}): acknowledge the hold first.`);
  }
  if (next !== null && plan.advance.needs_preflight) {
    const preflight = plan.advance.preflight;
    if (!preflight) out.push('No preflight has run: run the preflight on the Connection screen.');
    else if (!preflight.passed) {
      out.push(`The newest preflight failed: ${preflight.blocking.join(', ') || 'blocking checks'}.`);
    }
  }
  return out;
}

/** The words a person types to confirm an advance: the next stage's name. */
export function advancePhrase(plan: StagePlanAnswer): string | null {
  return plan.advance.to;
}

/** The words a person types to confirm a rollback: the stage it goes back to. */
export function rollbackPhrase(plan: StagePlanAnswer): string | null {
  return plan.rollback?.to ?? null;
}

/** Whether the typed text confirms (exact stage name, surrounding spaces ignored). */
export function confirms(typed: string, phrase: string | null): boolean {
  return phrase !== null && typed.trim() === phrase;
}
