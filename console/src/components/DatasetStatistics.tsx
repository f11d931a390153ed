import { useState, type FormEvent, type ReactNode } from "react";
import { ApiFailure } from "../api/client";
import { statistics, type Dataset, type GenericJob } from "../api/datasets";
import { formatNumber } from "../lib/chart";
import {
  DEFAULT_PERIOD_TEXT,
  apiFieldErrors,
  formatHours,
  localized,
  validatePeriods,
  validatePrices,
  type PeriodField,
  type PeriodShare,
  type Periods,
  type PriceField,
  type Prices,
} from "../lib/datasets";
import type { MessageKey } from "../lib/i18n";
import { JobRunView, useJobRun } from "./DatasetJob";
import { PeriodFields, PriceFields, hourErrorText, type ShownErrors } from "./PeriodFields";
import { useApp } from "./context";

interface LoadPoint {
  timestamp: string;
  kwh: number;
  kw: number;
}
export interface StatisticsResult {
  points: number;
  start: string;
  end: string;
  days: number;
  total_kwh: number;
  daily_average_kwh: number;
  peak_load: LoadPoint;
  valley_load: LoadPoint;
  periods: PeriodShare[];
  trend: { direction: string; p_value: number; slope_kwh_per_day: number };
  cost: { currency: string; total: number } | null;
}

const EMPTY_PRICES: Record<PriceField, string> = { peak: "", valley: "", flat: "", currency: "" };

/** The periods and prices of a form, checked as the API checks them; errors worded for the fields. */
export interface PeriodsForm {
  periodTexts: Record<PeriodField, string>;
  setPeriodTexts: (v: Record<PeriodField, string>) => void;
  priceTexts: Record<PriceField, string>;
  setPriceTexts: (v: Record<PriceField, string>) => void;
  errors: ShownErrors;
  setErrors: (e: ShownErrors) => void;
  check: (t: (k: MessageKey) => string) => { periods: Periods; prices: Prices | null } | null;
}

export function usePeriodsForm(): PeriodsForm {
  const [periodTexts, setPeriodTexts] = useState(DEFAULT_PERIOD_TEXT);
  const [priceTexts, setPriceTexts] = useState(EMPTY_PRICES);
  const [errors, setErrors] = useState<ShownErrors>({});
  const check = (t: (k: MessageKey) => string): { periods: Periods; prices: Prices | null } | null => {
    const p = validatePeriods(periodTexts);
    const c = validatePrices(priceTexts);
    const shown: ShownErrors = {};
    if (!p.ok) for (const [f, e] of Object.entries(p.errors)) shown[f] = hourErrorText(t, e);
    if (!c.ok) for (const [f, e] of Object.entries(c.errors)) shown[f] = t(e === "priceRange" ? "errPrice" : "errCurrency");
    setErrors(shown);
    return p.ok && c.ok ? { periods: p.value, prices: c.value } : null;
  };
  return { periodTexts, setPeriodTexts, priceTexts, setPriceTexts, errors, setErrors, check };
}

/** A periods form's tariff period hours and prices (statistics, report). */
export function TariffFields({ form, idPrefix }: { form: PeriodsForm; idPrefix: string }): ReactNode {
  return (
    <>
      <PeriodFields texts={form.periodTexts} onChange={form.setPeriodTexts} errors={form.errors} idPrefix={idPrefix} />
      <PriceFields texts={form.priceTexts} onChange={form.setPriceTexts} errors={form.errors} idPrefix={idPrefix} />
    </>
  );
}

export function DatasetStatistics({ dataset, last }: { dataset: Dataset; last?: GenericJob | undefined }): ReactNode {
  const { t, lang } = useApp();
  const form = usePeriodsForm();
  const run = useJobRun(last);
  const r = run.result as StatisticsResult | null;

  const submit = (e: FormEvent): void => {
    e.preventDefault();
    const v = form.check(t);
    if (!v) return;
    run.start(async () => {
      try {
        return await statistics(dataset.id, { periods: v.periods, prices: v.prices });
      } catch (err) {
        if (err instanceof ApiFailure) form.setErrors(apiFieldErrors(err.details));
        throw err;
      }
    });
  };

  const time = (s: string): string => s.slice(0, 16).replace("T", " ");
  return (
    <section className="panel" aria-labelledby="ds-stats">
      <h3 id="ds-stats">{t("dsStatistics")}</h3>
      <form onSubmit={submit} noValidate aria-label={t("dsStatistics")}>
        <TariffFields form={form} idPrefix="stats" />
        <button type="submit" disabled={run.busy}>
          {t("dsRun")}
        </button>
      </form>
      <JobRunView run={run} testId="stats-job" />
      {r ? (
        <div data-testid="stats-result">
          <dl className="facts">
            <dt>{t("dsRange")}</dt>
            <dd>
              {time(r.start)} – {time(r.end)} ({r.days} {t("dsDays")})
            </dd>
            <dt>{t("dsTotal")}</dt>
            <dd data-testid="stats-total">{formatNumber(r.total_kwh)} kWh</dd>
            <dt>{t("dsDailyAverage")}</dt>
            <dd>{formatNumber(r.daily_average_kwh)} kWh</dd>
            <dt>{t("dsPeakLoad")}</dt>
            <dd>
              {formatNumber(r.peak_load.kw)} kW · {time(r.peak_load.timestamp)}
            </dd>
            <dt>{t("dsValleyLoad")}</dt>
            <dd>
              {formatNumber(r.valley_load.kw)} kW · {time(r.valley_load.timestamp)}
            </dd>
            <dt>{t("dsTrend")}</dt>
            <dd>
              {t(`trend_${r.trend.direction}` as MessageKey)} ({formatNumber(r.trend.slope_kwh_per_day)} kWh/{t("dsDays")}, p = {r.trend.p_value.toFixed(3)})
            </dd>
            {r.cost ? (
              <>
                <dt>{t("dsCost")}</dt>
                <dd data-testid="stats-cost">
                  {formatNumber(r.cost.total)} {r.cost.currency}
                </dd>
              </>
            ) : null}
          </dl>
          <div className="table-wrap">
            <table data-testid="stats-periods">
              <thead>
                <tr>
                  <th>{t("dsPeriod")}</th>
                  <th>{t("dsHours")}</th>
                  <th>kWh</th>
                  <th>{t("dsShare")}</th>
                  {r.cost ? <th>{t("dsCost")}</th> : null}
                </tr>
              </thead>
              <tbody>
                {r.periods.map((p) => (
                  <tr key={p.period} data-period={p.period}>
                    <td>{localized(p.display_name, lang, p.period)}</td>
                    <td>{formatHours(p.hours)}</td>
                    <td>{formatNumber(p.kwh)}</td>
                    <td>{(100 * p.ratio).toFixed(1)} %</td>
                    {r.cost ? <td>{p.cost == null ? "–" : formatNumber(p.cost)}</td> : null}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      ) : null}
    </section>
  );
}
