import { fireEvent, screen, waitFor } from '@solidjs/testing-library';
import { describe, expect, it } from 'vitest';
import type { DeadLetter, ReasonClass } from '../src/api/types';
import { DeadLetters } from '../src/screens/DeadLetters';
import { groupByClass } from '../src/view/dead-letters';
import { deadLetters } from './fixtures';
import { renderScreen } from './render';

function letters(): DeadLetter[] {
  const [base] = deadLetters();
  const make = (id: number, reason_class: ReasonClass, total: number): DeadLetter => ({
    ...structuredClone(base!),
    id,
    reason_class,
    fact: `purchase:${5000 + id}`,
    payload: { event_type: 'purchase', properties: { total_price: total } },
  });
  return [make(3, 'invalid_payload', -1), make(4, 'rejected_command', 12), make(5, 'invalid_payload', -2)];
}


describe('dead letters', () => {
  it('groups by reason class, biggest first', () => {
    const groups = groupByClass(letters());
    expect(groups.map((g) => [g.reasonClass, g.letters.map((l) => l.id)])).toEqual([
      ['invalid_payload', [3, 5]],
      ['rejected_command', [4]],
    ]);
    expect(groupByClass(deadLetters())[0]!.reasonClass).toBe('rejected_command');
  });

  it('previews exactly what a bulk replay sends, then replays those ids', async () => {
    const all = letters();
    const { fake } = renderScreen(
      () => <DeadLetters />,
      {
        dead_letters: () => all,
        replay_dead_letters: (op) => ({
          preview: op.preview,
          letters: all.filter((l) => op.ids.includes(l.id)),
          changed: op.preview ? 0 : op.ids.length,
        }),
      },
      { errorRunbooks: { links: { 'dead_letter.invalid_payload': 'errors#invalid-payload' } } },
    );
    const group = await screen.findByTestId('dl-group-invalid_payload');
    expect(group.querySelector('[data-testid=dl-runbook]')?.getAttribute('href')).toBe('#/runbooks/errors/invalid-payload');
    fireEvent.click(screen.getByTestId('dl-select-group-invalid_payload'));
    expect(screen.getByTestId('dl-selected').textContent).toBe('2 selected');
    fireEvent.click(screen.getByTestId('preview-replay'));
    const preview = await screen.findByTestId('dl-preview');
    expect(fake.calls).toContainEqual({ op: 'replay_dead_letters', ids: [3, 5], preview: true });
    expect(preview.querySelectorAll('.preview-letter').length).toBe(2);
    expect(screen.getByTestId('preview-5').querySelector('pre')?.textContent).toContain('"total_price": -2');
    expect(screen.queryByTestId('preview-4')).toBeNull();
    fireEvent.click(screen.getByTestId('dl-confirm'));
    await screen.findByTestId('dl-done');
    expect(fake.calls).toContainEqual({ op: 'replay_dead_letters', ids: [3, 5], preview: false });
    expect(screen.getByTestId('dl-done').textContent).toContain('Replayed 2');
  });

  it('discards exactly the previewed letters, even if the selection changed after the preview', async () => {
    const all = letters();
    let listed = all;
    const { fake } = renderScreen(() => <DeadLetters />, {
      dead_letters: () => listed,
      discard_dead_letters: (op) => ({
        preview: op.preview,
        letters: all.filter((l) => op.ids.includes(l.id)).map((l) => ({ ...l, state: op.preview ? 'dead' : 'discarded' })),
        changed: op.preview ? 0 : op.ids.length,
      }),
    });
    fireEvent.click(await screen.findByTestId('dl-check-4'));
    fireEvent.click(screen.getByTestId('preview-discard'));
    const preview = await screen.findByTestId('dl-preview');
    expect(preview.dataset.action).toBe('discard');
    expect(fake.calls).toContainEqual({ op: 'discard_dead_letters', ids: [4], preview: true });
    listed = all.filter((l) => l.id !== 4);
    fireEvent.click(screen.getByTestId('dl-confirm'));
    await waitFor(() => expect(fake.calls).toContainEqual({ op: 'discard_dead_letters', ids: [4], preview: false }));
    expect((await screen.findByTestId('dl-done')).textContent).toContain('Discarded 1');
    await waitFor(() => expect(screen.queryByTestId('dl-4')).toBeNull());
  });
});
