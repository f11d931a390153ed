import type { ReactNode } from "react";
import type { MessageKey } from "../lib/i18n";
import {
  PERIOD_FIELDS,
  formatHours,
  type HourError,
  type PeriodField,
  type PriceField,
} from "../lib/datasets";
import { useApp } from "./context";

const LABELS: Record<PeriodField, MessageKey> = { peak_hours: "dsPeakHours", valley_hours: "dsValleyHours", flat_hours: "dsFlatHours" };

export function hourErrorText(t: (k: MessageKey) => string, e: HourError): string {
  switch (e.kind) {
    case "syntax":
      return `${t("errHourSyntax")} "${e.token}"`;
    case "twice":
      return `${t("errHoursTwice")} ${formatHours(e.hours)}`;
    case "overlap":
      return `${t(e.other === "peak" ? "errHoursPeakValley" : "errHoursFlatOverlap")} ${formatHours(e.hours)}`;
    case "uncovered":
      return `${t("errHoursUncovered")} ${formatHours(e.hours)}`;
  }
}

/** Errors shown under a field: ours (already worded) or the API's own message for that field. */
export type ShownErrors = Partial<Record<string, string>>;

function Err({ errors, name }: { errors: ShownErrors; name: string }): ReactNode {
  const e = errors[name];
  return e ? (
    <span className="field-error" role="alert" data-field={name}>
      {e}
    </span>
  ) : null;
}

/** Peak / valley / flat hour sets (text such as "8-10, 18-20"). */
export function PeriodFields({
  texts,
  onChange,
  errors,
  idPrefix,
}: {
  texts: Record<PeriodField, string>;
  onChange: (texts: Record<PeriodField, string>) => void;
  errors: ShownErrors;
  idPrefix: string;
}): ReactNode {
  const { t } = useApp();
  return (
    <fieldset className="form-row">
      {PERIOD_FIELDS.map((f) => (
        <label key={f}>
          {t(LABELS[f])}
          <input name={`${idPrefix}-${f}`} value={texts[f]} onChange={(e) => onChange({ ...texts, [f]: e.target.value })} />
          <Err errors={errors} name={f} />
        </label>
      ))}
      <p className="muted hint">{t("dsHoursHint")}</p>
    </fieldset>
  );
}

/** Optional prices per kWh of each period and their currency. */
export function PriceFields({
  texts,
  onChange,
  errors,
  idPrefix,
}: {
  texts: Record<PriceField, string>;
  onChange: (texts: Record<PriceField, string>) => void;
  errors: ShownErrors;
  idPrefix: string;
}): ReactNode {
  const { t } = useApp();
  const names: Record<PriceField, MessageKey> = { peak: "dsPeakHours", valley: "dsValleyHours", flat: "dsFlatHours", currency: "dsCurrency" };
  return (
    <fieldset className="form-row">
      <legend>{t("dsPrices")}</legend>
      {(["peak", "valley", "flat", "currency"] as const).map((f) => (
        <label key={f}>
          {t(names[f])}
          <input
            name={`${idPrefix}-price-${f}`}
            inputMode={f === "currency" ? "text" : "decimal"}
            placeholder={f === "currency" ? "CNY" : ""}
            size={8}
            value={texts[f]}
            onChange={(e) => onChange({ ...texts, [f]: e.target.value })}
          />
          <Err errors={errors} name={f} />
        </label>
      ))}
    </fieldset>
  );
}

export { Err as ShownError };
