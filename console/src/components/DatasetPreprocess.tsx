import { useState, type FormEvent, type ReactNode } from "react";
import { ApiFailure } from "../api/client";
import { preprocess, type Dataset, type GenericJob } from "../api/datasets";
import { MISSING, OUTLIERS, RESAMPLE, apiFieldErrors, validatePreprocess, type PreprocessForm } from "../lib/datasets";
import type { MessageKey } from "../lib/i18n";
import { JobRunView, useJobRun } from "./DatasetJob";
import { ShownError, type ShownErrors } from "./PeriodFields";
import { useApp } from "./context";

const ERROR_TEXT: Record<string, MessageKey> = {
  kRange: "errKRange",
  coarserOnly: "errCoarserOnly",
  zoneName: "errZoneName",
  badChoice: "errBadChoice",
};

/** A labelled select of one of the form's choices, each shown as `text(choice)`; `children` follow it
 * (the field's error). */
function ChoiceField(props: { label: string; name: string; value: string; choices: readonly string[]; text: (choice: string) => string; onChange: (value: string) => void; children?: ReactNode }): ReactNode {
  return (
    <label>
      {props.label}
      <select name={props.name} value={props.value} onChange={(e) => props.onChange(e.target.value)}>
        {props.choices.map((c) => (
          <option key={c} value={c}>
            {props.text(c)}
          </option>
        ))}
      </select>
      {props.children}
    </label>
  );
}

/** Preprocess (write scope): the form checked as PreprocessParams checks it, the job followed to its
 * end, then the dataset re-read (`onDone`) so its status and summary show. */
export function DatasetPreprocess({ dataset, onDone, last }: { dataset: Dataset; onDone: () => void; last?: GenericJob | undefined }): ReactNode {
  const { t } = useApp();
  const [form, setForm] = useState<PreprocessForm>({ missing: "interpolate", outliers: "clip", outlier_k: "3", resample: "", timezone: "" });
  const [errors, setErrors] = useState<ShownErrors>({});
  const run = useJobRun(last);
  const set = (k: keyof PreprocessForm, v: string): void => setForm({ ...form, [k]: v });
  const optionText = (m: string): string => t(`opt_${m}` as MessageKey);

  const submit = (e: FormEvent): void => {
    e.preventDefault();
    const v = validatePreprocess(form, dataset.interval_s);
    if (!v.ok) {
      setErrors(Object.fromEntries(Object.entries(v.errors).map(([f, code]) => [f, t(ERROR_TEXT[code] ?? "errBadChoice")])));
      return;
    }
    setErrors({});
    run.start(async () => {
      try {
        return await preprocess(dataset.id, v.value);
      } catch (err) {
        if (err instanceof ApiFailure) setErrors(apiFieldErrors(err.details));
        throw err;
      }
    });
  };

  return (
    <section className="panel" aria-labelledby="ds-pre">
      <h3 id="ds-pre">{t("dsPreprocess")}</h3>
      <form className="form-row" onSubmit={submit} noValidate aria-label={t("dsPreprocess")}>
        <ChoiceField label={t("dsMissing")} name="missing" value={form.missing} choices={MISSING} text={optionText} onChange={(v) => set("missing", v)} />
        <ChoiceField label={t("dsOutliers")} name="outliers" value={form.outliers} choices={OUTLIERS} text={optionText} onChange={(v) => set("outliers", v)} />
        <label>
          {t("dsOutlierK")}
          <input name="outlier_k" inputMode="decimal" size={6} value={form.outlier_k} onChange={(e) => set("outlier_k", e.target.value)} />
          <ShownError errors={errors} name="outlier_k" />
        </label>
        <ChoiceField label={t("dsResample")} name="resample" value={form.resample} choices={RESAMPLE} text={(r) => r || t("dsKeepInterval")} onChange={(v) => set("resample", v)}>
          <ShownError errors={errors} name="resample" />
        </ChoiceField>
        <label>
          {t("dsTimezone")}
          <input name="timezone" placeholder={dataset.timezone} value={form.timezone} onChange={(e) => set("timezone", e.target.value)} />
          <ShownError errors={errors} name="timezone" />
        </label>
        <button type="submit" disabled={run.busy}>
          {t("dsPreprocess")}
        </button>
      </form>
      <JobRunView
        run={run}
        testId="preprocess-job"
        onDone={(res, j) => {
          run.done(res, j);
          if (run.fresh) onDone();
        }}
      />
    </section>
  );
}
