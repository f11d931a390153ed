import { Suspense, lazy, useState, type FormEvent, type ReactNode } from "react";
import { ApiFailure } from "../api/client";
import { getDashboard } from "../api/datasets";
import { formatNumber } from "../lib/chart";
import { apiFieldErrors, dailySeries, formatHours, hourCurve, localized, orderRecommendations, periodPie, type Periods } from "../lib/datasets";
import type { MessageKey } from "../lib/i18n";
import { useAsync } from "../lib/useAsync";
import { DatasetAnomalyList } from "./DatasetAnomalyList";
import { usePeriodsForm } from "./DatasetStatistics";
import { PeriodFields } from "./PeriodFields";
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
  const form = usePeriodsForm();
  const [periods, setPeriods] = useState<Periods | null>(null);
  const board = useAsync(
    () =>
      Promise.resolve().then(() =>
        getDashboard(datasetId, periods).catch((e: unknown) => {
          if (e instanceof ApiFailure) form.setErrors(apiFieldErrors(e.details));
          throw e;
        }),
      ),
    [datasetId, version, lang, periods],
  );
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
                <details data-testid="pie-hours">
                  <summary>{t("dsPieHours")}</summary>
                  <form
                    noValidate
                    aria-label={t("dsPieHours")}
                    onSubmit={(e: FormEvent) => {
                      e.preventDefault();
                      const v = form.check(t);
                      if (v) setPeriods(v.periods);
                    }}
                  >
                    <PeriodFields texts={form.periodTexts} onChange={form.setPeriodTexts} errors={form.errors} idPrefix="pie" />
                    <button type="submit">{t("dsApply")}</button>
                  </form>
                </details>
                <PeriodPieChart slices={periodPie(d.period_distribution, lang)} title={t("dsPeriodPie")} testId="chart-periods" />
                <ul className="period-shares" data-testid="period-shares">
                  {d.period_distribution.map((p) => (
                    <li key={p.period} data-period={p.period}>
                      {localized(p.display_name, lang, p.period)} ({formatHours(p.hours)}): {formatNumber(p.kwh)} kWh · {(100 * p.ratio).toFixed(1)} %
                    </li>
                  ))}
                </ul>
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
