import { useState, type ReactNode } from "react";
import { can } from "../api/auth";
import { datasetJobs, getDataset } from "../api/datasets";
import { DatasetAnomalies } from "../components/DatasetAnomalies";
import { DatasetDashboard } from "../components/DatasetDashboard";
import { DatasetManage } from "../components/DatasetManage";
import { DatasetPatterns } from "../components/DatasetPatterns";
import { DatasetPreprocess } from "../components/DatasetPreprocess";
import { DatasetReadings } from "../components/DatasetReadings";
import { DatasetReport } from "../components/DatasetReport";
import { DatasetStatistics } from "../components/DatasetStatistics";
import { ErrorBox, Loading } from "../components/Status";
import { useApp } from "../components/context";
import { formatNumber } from "../lib/chart";
import type { MessageKey } from "../lib/i18n";
import { latestByType } from "../lib/datasets";
import { useAsync } from "../lib/useAsync";

const time = (s: string | null): string => (s ?? "").slice(0, 16).replace("T", " ");

/** One dataset: what it holds, preprocessing (write scope), statistics, load patterns, anomalies,
 * its dashboard and reports (read scope: they read the data and store a result). */
export function DatasetsDetail({ datasetId }: { datasetId: string }): ReactNode {
  const { t, session, navigate } = useApp();
  const [version, setVersion] = useState(0); // a rename or a new zone: read again, sections afresh
  const dataset = useAsync(() => getDataset(datasetId), [datasetId, version]);
  // Each section opens on the dataset's latest job of its type (a report made yesterday is still there).
  const jobs = useAsync(() => datasetJobs(datasetId).then(latestByType), [datasetId, version]);
  const last = jobs.data ?? {};
  const [boardVersion, setBoardVersion] = useState(0);
  const d = dataset.data;
  const processed = d?.processed as Record<string, unknown> | null | undefined;

  return (
    <section>
      <p>
        <a
          href="/admin/datasets"
          onClick={(e) => {
            e.preventDefault();
            navigate({ page: "datasets" });
          }}
        >
          ← {t("datasets")}
        </a>
      </p>
      <ErrorBox error={dataset.error} />
      {dataset.loading && !d ? <Loading text={t("loading")} /> : null}
      <ErrorBox error={jobs.error} />
      {d && !jobs.loading ? (
        <div key={version}>
          <h2 data-testid="dataset-name">{d.name}</h2>
          <dl className="facts" data-testid="dataset-facts">
            <dt>{t("status")}</dt>
            <dd>
              <span className="badge" data-testid="dataset-status">
                {t(`dsStatus_${d.status}` as MessageKey)}
              </span>
            </dd>
            <dt>{t("rows")}</dt>
            <dd>{formatNumber(d.row_count)}</dd>
            <dt>{t("interval")}</dt>
            <dd>{formatNumber(d.interval_s / 60)} min</dd>
            <dt>{t("dsRange")}</dt>
            <dd>
              {time(d.start_at)} – {time(d.end_at)} UTC
            </dd>
            <dt>{t("dsZone")}</dt>
            <dd>{d.timezone}</dd>
            <dt>{t("dsUnit")}</dt>
            <dd>{d.unit} → kWh</dd>
            {processed ? (
              <>
                <dt>{t("dsProcessedSummary")}</dt>
                <dd data-testid="dataset-processed">
                  {["rows_in", "rows_out", "gaps_found", "filled", "clipped", "removed", "dropped"]
                    .filter((k) => typeof processed[k] === "number")
                    .map((k) => `${k} ${String(processed[k])}`)
                    .join(" · ")}
                </dd>
              </>
            ) : null}
          </dl>
          <DatasetReadings key={d.status} dataset={d} />
          {can(session, "write") ? (
            <>
              <DatasetManage dataset={d} onChanged={() => setVersion((v) => v + 1)} onDeleted={() => navigate({ page: "datasets" })} />
              <DatasetPreprocess
                dataset={d}
                last={last["preprocess"]}
                onDone={() => {
                  dataset.reload();
                  setBoardVersion((v) => v + 1);
                }}
              />
            </>
          ) : null}
          <DatasetStatistics dataset={d} last={last["statistics"]} />
          <DatasetPatterns dataset={d} last={last["load_patterns"]} />
          <DatasetAnomalies dataset={d} last={last["anomalies"]} onFound={() => setBoardVersion((v) => v + 1)} />
          <DatasetDashboard datasetId={d.id} version={boardVersion} />
          <DatasetReport dataset={d} last={last["report"]} />
        </div>
      ) : null}
    </section>
  );
}
