import { useState, type FormEvent, type ReactNode } from "react";
import { ApiFailure } from "../api/client";
import { preprocess, type Dataset, type GenericJob } from "../api/datasets";
import { MISSING, OUTLIERS, RESAMPLE, apiFieldErrors, validatePreprocess, type PreprocessForm } from "../lib/datasets";
import type { MessageKey } from "../lib/i18n";
import { DatasetJob, useJobRun } from "./DatasetJob";
import { ShownError, type ShownErrors } from "./PeriodFields";
import { ErrorBox } from "./Status";
import { useApp } from "./context";

const ERROR_TEXT: Record<string, MessageKey> = {
  kRange: "errKRange",
  coarserOnly: "errCoarserOnly",
  zoneName: "errZoneName",
  badChoice: "errBadChoice",
};

/** Preprocess (write scope): the form checked as PreprocessParams checks it, the job followed to its
 * end, then the dataset re-read (`onDone`) so its status and summary show. */
export function DatasetPreprocess({ dataset, onDone, last }: { dataset: Dataset; onDone: () => void; last?: GenericJob | undefined }): ReactNode {
  const { t } = useApp();
  const [form, setForm] = useState<PreprocessForm>({ missing: "interpolate", outliers: "clip", outlier_k: "3", resample: "", timezone: "" });
  const [errors, setErrors] = useState<ShownErrors>({});
  const run = useJobRun(last);
  const set = (k: keyof PreprocessForm, v: string): void => setForm({ ...form, [k]: v });

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
        <label>
          {t("dsMissing")}
          <select name="missing" value={form.missing} onChange={(e) => set("missing", e.target.value)}>
            {MISSING.map((m) => (
              <option key={m} value={m}>
                {t(`opt_${m}` as MessageKey)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t("dsOutliers")}
          <select name="outliers" value={form.outliers} onChange={(e) => set("outliers", e.target.value)}>
            {OUTLIERS.map((m) => (
              <option key={m} value={m}>
                {t(`opt_${m}` as MessageKey)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t("dsOutlierK")}
          <input name="outlier_k" inputMode="decimal" size={6} value={form.outlier_k} onChange={(e) => set("outlier_k", e.target.value)} />
          <ShownError errors={errors} name="outlier_k" />
        </label>
        <label>
          {t("dsResample")}
          <select name="resample" value={form.resample} onChange={(e) => set("resample", e.target.value)}>
            {RESAMPLE.map((r) => (
              <option key={r} value={r}>
                {r || t("dsKeepInterval")}
              </option>
            ))}
          </select>
          <ShownError errors={errors} name="resample" />
        </label>
        <label>
          {t("dsTimezone")}
          <input name="timezone" placeholder={dataset.timezone} value={form.timezone} onChange={(e) => set("timezone", e.target.value)} />
          <ShownError errors={errors} name="timezone" />
        </label>
        <button type="submit" disabled={run.busy}>
          {t("dsPreprocess")}
        </button>
      </form>
      <ErrorBox error={run.error} />
      {run.job ? (
        <DatasetJob
          key={run.job.id}
          job={run.job}
          testId="preprocess-job"
          onDone={(res, j) => {
            run.done(res, j);
            if (run.fresh) onDone();
          }}
        />
      ) : null}
    </section>
  );
}
