// Steps several e2e files share, through the API (the UI steps are in each test).
import { api } from './helpers.mjs';

/** Runs a preflight and advances one stage with the plan it reviewed; returns the answer. */
export async function advanceOnce(server) {
  const plan = await api(server, { op: 'stage_plan' });
  if (plan.advance.needs_preflight) await api(server, { op: 'preflight' });
  const fresh = await api(server, { op: 'stage_plan' });
  return api(server, { op: 'advance', plan_hash: fresh.advance.plan_hash });
}

/** Advances through the API until the stage is `target`. */
export async function advanceTo(server, target) {
  for (let i = 0; i < 5; i++) {
    const { stage } = await api(server, { op: 'stage' });
    if (stage === target) return;
    await advanceOnce(server);
  }
  throw new Error(`could not reach stage ${target}`);
}

/** The status's lane row. */
export async function lane(server, name) {
  const status = await api(server, { op: 'status' });
  return status.lanes.find((l) => l.lane === name);
}
