import type { ReactNode } from "react";
import type { FieldErrors } from "../lib/forms";
import { MESSAGES, type MessageKey } from "../lib/i18n";

/** A field's error: one of our messages (translated) or the API's own words. */
export function FieldError({ errors, name, t }: { errors: FieldErrors; name: string; t: (k: MessageKey) => string }): ReactNode {
  const e = errors[name];
  if (!e) return null;
  const text = e in MESSAGES["en-US"] ? t(e as MessageKey) : e;
  return (
    <span className="field-error" role="alert" data-field={name}>
      {text}
    </span>
  );
}
