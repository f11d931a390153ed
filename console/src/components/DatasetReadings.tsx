import { Suspense, lazy, useState, type ReactNode } from "react";
import { READINGS_SHOWN, lastReadings, type Dataset } from "../api/datasets";
import { seriesPoints } from "../lib/datasets";
import { useAsync } from "../lib/useAsync";
import { ErrorBox, Loading } from "./Status";
import { useApp } from "./context";

const ReadingsChart = lazy(() => import("./DatasetCharts").then((m) => ({ default: m.ReadingsChart })));

/** The dataset's last 1,000 readings as uploaded or as preprocessed (when it has been). */
export function DatasetReadings({ dataset }: { dataset: Dataset }): ReactNode {
  const { t } = useApp();
  const processed = dataset.status === "processed";
  const [series, setSeries] = useState<"raw" | "processed">(processed ? "processed" : "raw");
  const shown = processed ? series : "raw";
  const data = useAsync(() => lastReadings(dataset, shown).then(seriesPoints), [dataset.id, shown]);
  return (
    <section className="panel" aria-labelledby="ds-readings">
      <h3 id="ds-readings">
        {t("readings")} <span className="muted small">({t("dsLastReadings").replace("{n}", READINGS_SHOWN.toLocaleString())})</span>
      </h3>
      {processed ? (
        <div className="toolbar">
          {(["raw", "processed"] as const).map((s) => (
            <button key={s} type="button" className={shown === s ? "selected" : ""} onClick={() => setSeries(s)}>
              {t(s === "raw" ? "dsSeriesRaw" : "dsSeriesProcessed")}
            </button>
          ))}
        </div>
      ) : null}
      <ErrorBox error={data.error} />
      {data.loading && !data.data ? <Loading text={t("loading")} /> : null}
      {data.data ? (
        <Suspense fallback={<Loading text={t("loading")} />}>
          <div data-series={shown} data-points={data.data.length} data-testid="readings-chart-wrap">
            <ReadingsChart points={data.data} title={t("readings")} testId="readings-chart" />
          </div>
        </Suspense>
      ) : null}
    </section>
  );
}
