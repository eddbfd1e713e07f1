import type { DeadLetter } from '../api/types';

/** The class a letter is grouped under. */
export function reasonClass(letter: DeadLetter): string {
  return letter.reason_class;
}

export interface LetterGroup {
  reasonClass: string;
  letters: DeadLetter[];
}

/** Letters by reason class, biggest group first, then by name; letters by id within a group. */
export function groupByClass(letters: DeadLetter[]): LetterGroup[] {
  const groups = new Map<string, DeadLetter[]>();
  for (const letter of letters) {
    const key = reasonClass(letter);
    const group = groups.get(key) ?? [];
    group.push(letter);
    groups.set(key, group);
  }
  return [...groups.entries()]
    .map(([key, group]) => ({ reasonClass: key, letters: [...group].sort((a, b) => a.id - b.id) }))
    .sort((a, b) => b.letters.length - a.letters.length || a.reasonClass.localeCompare(b.reasonClass));
}

/** Pretty JSON of a frozen payload, exactly as it will be sent (key order kept). */
export function payloadText(payload: unknown): string {
  return JSON.stringify(payload, null, 2);
}
