// Confirmation before an action that changes or removes something: a modal <dialog> (focus stays inside, Escape
// cancels) naming what will happen; the action runs on "confirm" and its error is shown in the dialog, which stays open.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { errorText } from "./api.js";
import { ErrorBox } from "./common.js";

export interface ConfirmProps {
  /** Whether the dialog is shown. */
  open: boolean;
  title: string;
  /** What will happen, in words. */
  children: ComponentChildren;
  /** The confirming button's text, e.g. "Delete". */
  confirmLabel: string;
  danger?: boolean;
  /** The action; the dialog closes when it resolves. */
  run(): Promise<unknown>;
  onClose(): void;
  /** Called after the action succeeded (after onClose). */
  onDone?(): void;
}

export function Confirm(p: ConfirmProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (p.open && !d.open) {
      setError(undefined);
      d.showModal();
    } else if (!p.open && d.open) d.close();
  }, [p.open]);
  const confirm = async () => {
    setBusy(true);
    try {
      await p.run();
      p.onClose();
      p.onDone?.();
    } catch (e) {
      setError(e instanceof Error && !("code" in e) ? e.message : errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const titleId = `confirm-${p.title.toLowerCase().replace(/\W+/g, "-")}`;
  return (
    // The dialog's own close (Escape) tells the owner, so its state follows.
    <dialog ref={ref} class="confirm" aria-labelledby={titleId} onClose={() => p.open && p.onClose()}>
      <h2 id={titleId}>{p.title}</h2>
      <div class="confirm-body">{p.children}</div>
      <ErrorBox error={error} />
      <div class="actions">
        <button type="button" class="secondary" onClick={p.onClose} disabled={busy}>
          Cancel
        </button>
        <button type="button" class={p.danger ? "danger" : ""} onClick={() => void confirm()} disabled={busy}>
          {p.confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

/** A button that asks before it acts: `label` opens the dialog, whose `confirmLabel` runs the action. */
export function ConfirmButton(
  p: Omit<ConfirmProps, "open" | "onClose"> & {
    label: string /** The button's accessible name when `label` is ambiguous. */;
    ariaLabel?: string;
  },
) {
  const [open, setOpen] = useState(false);
  const { label, ariaLabel, ...rest } = p;
  return (
    <>
      <button type="button" class={p.danger ? "danger" : "secondary"} aria-label={ariaLabel} onClick={() => setOpen(true)}>
        {label}
      </button>
      <Confirm {...rest} open={open} onClose={() => setOpen(false)} />
    </>
  );
}
