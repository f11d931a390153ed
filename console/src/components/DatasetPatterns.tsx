import { Suspense, lazy, useState, type FormEvent, type ReactNode } from "react";
import { loadPatterns, type Dataset, type GenericJob } from "../api/datasets";
import { formatNumber } from "../lib/chart";
import { localized, patternSeries, validatePatterns, type LoadPattern } from "../lib/datasets";
import { JobRunView, useJobRun } from "./DatasetJob";
import { ShownError } from "./PeriodFields";
import { Loading } from "./Status";
import { useApp } from "./context";

const PatternProfileChart = lazy(() => import("./DatasetCharts").then((m) => ({ default: m.PatternProfileChart })));

interface PatternsResult {
  method: string;
  k: number;
  days_used: number;
  days_skipped: number;
  patterns: LoadPattern[];
}

export function DatasetPatterns({ dataset, last }: { dataset: Dataset; last?: GenericJob | undefined }): ReactNode {
  const { t, lang } = useApp();
  const [method, setMethod] = useState("kmeans");
  const [k, setK] = useState("3");
  const [kError, setKError] = useState<string | undefined>(undefined);
  const run = useJobRun(last);
  const r = run.result as PatternsResult | null;

  const submit = (e: FormEvent): void => {
    e.preventDefault();
    const v = validatePatterns(method, k);
    if (!v.ok) {
      setKError(t("errK"));
      return;
    }
    setKError(undefined);
    run.start(() => loadPatterns(dataset.id, { method: v.value.method, k: v.value.k, seed: 0 }));
  };

  return (
    <section className="panel" aria-labelledby="ds-patterns">
      <h3 id="ds-patterns">{t("dsLoadPatterns")}</h3>
      <form className="form-row" onSubmit={submit} noValidate aria-label={t("dsLoadPatterns")}>
        <label>
          {t("dsMethod")}
          <select name="pattern-method" value={method} onChange={(e) => setMethod(e.target.value)}>
            <option value="kmeans">{t("dsKmeans")}</option>
            <option value="rules">{t("dsRules")}</option>
          </select>
        </label>
        {method === "kmeans" ? (
          <label>
            {t("dsClusters")}
            <input name="pattern-k" type="number" min={2} max={5} step={1} value={k} onChange={(e) => setK(e.target.value)} />
            <ShownError errors={{ k: kError }} name="k" />
          </label>
        ) : null}
        <button type="submit" disabled={run.busy}>
          {t("dsRun")}
        </button>
      </form>
      <JobRunView run={run} testId="patterns-job" />
      {r ? (
        <div data-testid="patterns-result">
          <p className="muted">
            {r.days_used} {t("dsDaysUsed")} · {r.days_skipped} {t("dsDaysSkipped")}
          </p>
          <div className="table-wrap">
            <table data-testid="patterns">
              <thead>
                <tr>
                  <th>{t("dsPattern")}</th>
                  <th>{t("dsDays")}</th>
                  <th>{t("dsShare")}</th>
                  <th>{t("dsKwhPerDay")}</th>
                  <th>{t("dsConfidence")}</th>
                </tr>
              </thead>
              <tbody>
                {r.patterns.map((p) => (
                  <tr key={p.id} data-label={p.label}>
                    <td>
                      <b>
                        #{p.id} {localized(p.display_name, lang, p.label)}
                      </b>
                      <div className="muted small">{localized(p.description, lang, "")}</div>
                    </td>
                    <td>{p.days}</td>
                    <td>{(100 * p.share).toFixed(1)} %</td>
                    <td>{formatNumber(p.daily_kwh)}</td>
                    <td>{p.confidence.toFixed(2)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <h4>{t("dsProfileChart")}</h4>
          <Suspense fallback={<Loading text={t("loading")} />}>
            <PatternProfileChart series={patternSeries(r.patterns, lang, t("dsDays"))} title={t("dsProfileChart")} testId="patterns-chart" />
          </Suspense>
        </div>
      ) : null}
    </section>
  );
}
