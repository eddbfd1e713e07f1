import { describe, expect, it } from 'vitest';
import { parseRoute } from '../src/route';
import { SCREENS } from '../src/screens/registry';

describe('routes', () => {
  it('reaches every screen of the navigation by its link', () => {
    for (const s of SCREENS) {
      expect(parseRoute(`#/${s.id}`, 'wizard').screen).toBe(s.id);
    }
  });

  it('keeps the arguments after the screen and falls back for an unknown one', () => {
    expect(parseRoute('#/runbooks/preflight/clock-skew', 'wizard')).toEqual({
      screen: 'runbooks',
      args: ['preflight', 'clock-skew'],
    });
    expect(parseRoute('#/nowhere/x', 'live')).toEqual({ screen: 'live', args: [] });
    expect(parseRoute('', 'wizard').screen).toBe('wizard');
  });
});
