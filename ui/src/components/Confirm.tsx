import { createSignal, createEffect, on, type JSX } from 'solid-js';
import { confirms } from '../view/wizard';

/**
 * A typed confirmation: the button works only once the exact `phrase` is typed. The typed text
 * resets whenever `bindTo` changes (a new plan hash), so a confirmation never carries over to a
 * plan nobody reviewed. A confirmation is used once: submitting clears it, so the same words can
 * never re-arm the button for whatever plan comes next.
 */
export function Confirm(props: {
  id: string;
  phrase: string | null;
  bindTo: string;
  action: string;
  busy?: boolean;
  disabled?: boolean;
  children?: JSX.Element;
  onConfirm: () => void;
}) {
  const [typed, setTyped] = createSignal('');
  createEffect(on(() => props.bindTo, () => setTyped(''), { defer: true }));
  const ok = () => confirms(typed(), props.phrase) && !props.disabled && !props.busy;
  return (
    <form
      class="confirm"
      data-testid={`${props.id}-form`}
      onSubmit={(e) => {
        e.preventDefault();
        if (!ok()) return;
        setTyped('');
        props.onConfirm();
      }}
    >
      {props.children}
      <label for={`${props.id}-input`}>
        Type <code data-testid={`${props.id}-phrase`}>{props.phrase ?? '—'}</code> to confirm
      </label>
      <input
        id={`${props.id}-input`}
        data-testid={`${props.id}-input`}
        autocomplete="off"
        spellcheck={false}
        value={typed()}
        onInput={(e) => setTyped(e.currentTarget.value)}
        disabled={props.disabled || props.phrase === null}
      />
      <button type="submit" data-testid={`${props.id}-button`} disabled={!ok()}>
        {props.busy ? 'Working…' : props.action}
      </button>
    </form>
  );
}
