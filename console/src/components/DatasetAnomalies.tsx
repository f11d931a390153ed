import { useState, type FormEvent, type ReactNode } from "react";
import { datasetAnomalies, type Dataset, type DatasetAnomaly, type GenericJob } from "../api/datasets";
import { DatasetAnomalyList } from "./DatasetAnomalyList";
import { JobRunView, useJobRun } from "./DatasetJob";
import { useApp } from "./context";

interface AnomaliesResult {
  method: string;
  threshold: number;
  points_scored: number;
  points_flagged: number;
  anomalies_total: number;
  anomalies: DatasetAnomaly[];
}

const SHOWN = 50;

/** Run the dataset's anomaly detection (autoencoder or the stream's detector) and list what it found;
 * `onFound` lets the dashboard re-read its recent anomalies. */
export function DatasetAnomalies({ dataset, onFound, last }: { dataset: Dataset; onFound: () => void; last?: GenericJob | undefined }): ReactNode {
  const { t } = useApp();
  const [method, setMethod] = useState<"autoencoder" | "streaming">("streaming");
  const run = useJobRun(last);
  const r = run.result as AnomaliesResult | null;

  const submit = (e: FormEvent): void => {
    e.preventDefault();
    run.start(() => datasetAnomalies(dataset.id, { method, window_hours: 24, threshold: null }));
  };

  return (
    <section className="panel" aria-labelledby="ds-anomalies">
      <h3 id="ds-anomalies">{t("dsAnomalies")}</h3>
      <form className="form-row" onSubmit={submit} noValidate aria-label={t("dsAnomalies")}>
        <label>
          {t("dsMethod")}
          <select name="anomaly-method" value={method} onChange={(e) => setMethod(e.target.value as "autoencoder" | "streaming")}>
            <option value="streaming">{t("dsStreaming")}</option>
            <option value="autoencoder">{t("dsAutoencoder")}</option>
          </select>
        </label>
        <button type="submit" disabled={run.busy}>
          {t("dsRun")}
        </button>
      </form>
      <JobRunView
        run={run}
        testId="anomalies-job"
        onDone={(res, j) => {
          run.done(res, j);
          if (j.status === "succeeded" && run.fresh) onFound();
        }}
      />
      {r ? (
        <div data-testid="anomalies-result">
          <p>
            <b data-testid="anomalies-total">{r.anomalies_total}</b> {t("dsFound")} · {r.points_flagged} / {r.points_scored} · {t("threshold")} {r.threshold}
          </p>
          <DatasetAnomalyList rows={r.anomalies.slice(0, SHOWN)} testId="anomalies" />
        </div>
      ) : null}
    </section>
  );
}
