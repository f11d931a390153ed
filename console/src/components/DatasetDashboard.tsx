import { Suspense, lazy, type ReactNode } from "react";
import { getDashboard } from "../api/datasets";
import { formatNumber } from "../lib/chart";
import { dailySeries, hourCurve, orderRecommendations, periodPie } from "../lib/datasets";
import type { MessageKey } from "../lib/i18n";
import { useAsync } from "../lib/useAsync";
import { DatasetAnomalyList } from "./DatasetAnomalyList";
import { ErrorBox, Loading } from "./Status";
import { useApp } from "./context";

const charts = () => import("./DatasetCharts");
const HourCurveChart = lazy(() => charts().then((m) => ({ default: m.HourCurveChart })));
const DailyChart = lazy(() => charts().then((m) => ({ default: m.DailyChart })));
const PeriodPieChart = lazy(() => charts().then((m) => ({ default: m.PeriodPieChart })));

/** The dataset's dashboard (GET /dashboards/{id}, computed on request): summary, 24-hour curve, daily
 * trend, period pie, recent anomalies, and recommendations when the API gives them. */
export function DatasetDashboard({ datasetId, version }: { datasetId: string; version: number }): ReactNode {
  const { t, lang } = useApp();
  // Recommendations come in the request's language: read again when the UI's language changes, one
  // microtask later, once App's effect has set the requests' language (a child's effects run first).
  const board = useAsync(() => Promise.resolve().then(() => getDashboard(datasetId)), [datasetId, version, lang]);
  const d = board.data;
  const recs = orderRecommendations(d?.recommendations);
  return (
    <section className="panel" aria-labelledby="ds-dashboard">
      <h3 id="ds-dashboard">{t("dsDashboard")}</h3>
      <ErrorBox error={board.error} />
      {board.loading && !d ? <Loading text={t("loading")} /> : null}
      {d ? (
        <div data-testid="dashboard">
          <dl className="facts">
            <dt>{t("dsTotal")}</dt>
            <dd>{formatNumber(d.summary.total_kwh)} kWh</dd>
            <dt>{t("dsDailyAverage")}</dt>
            <dd>{formatNumber(d.summary.daily_average_kwh)} kWh</dd>
            <dt>{t("dsPeakLoad")}</dt>
            <dd>{formatNumber(d.summary.peak_load.kw)} kW</dd>
            <dt>{t("dsTrend")}</dt>
            <dd>{t(`trend_${d.summary.trend}` as MessageKey)}</dd>
          </dl>
          <Suspense fallback={<Loading text={t("loading")} />}>
            <div className="chart-grid">
              <div>
                <h4>{t("dsLoadCurve")}</h4>
                <HourCurveChart values={hourCurve(d.load_curve)} title={t("dsLoadCurve")} testId="chart-load-curve" />
              </div>
              <div>
                <h4>{t("dsPeriodPie")}</h4>
                <PeriodPieChart slices={periodPie(d.period_distribution, lang)} title={t("dsPeriodPie")} testId="chart-periods" />
              </div>
            </div>
            <h4>{t("dsDailyTrend")}</h4>
            <DailyChart days={dailySeries(d.daily_trend)} title={t("dsDailyTrend")} testId="chart-daily" />
          </Suspense>
          <h4>{t("recentAnomalies")}</h4>
          <DatasetAnomalyList rows={d.recent_anomalies} testId="dashboard-anomalies" emptyText={t("dsNoAnomalyRun")} />
          {recs.length ? (
            <>
              <h4>{t("dsRecommendations")}</h4>
              <ul data-testid="recommendations" className="recommendations">
                {recs.map((r) => (
                  <li key={r.id} data-id={r.id} data-severity={r.severity} className={r.severity}>
                    <b>{r.title}</b> {r.text}
                  </li>
                ))}
              </ul>
            </>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}
