import type { ReactNode } from "react";
import type { DatasetAnomaly } from "../api/datasets";
import { formatNumber } from "../lib/chart";
import { localized } from "../lib/datasets";
import { ListTable } from "./ListTable";
import { useApp } from "./context";

const time = (s: string): string => s.slice(0, 16).replace("T", " ");

/** Anomalies of a dataset (a job's result or the dashboard's recent ones): when, type, value against
 * the expected value, score. */
export function DatasetAnomalyList({ rows, testId, emptyText }: { rows: readonly DatasetAnomaly[]; testId: string; emptyText?: string }): ReactNode {
  const { t, lang } = useApp();
  return (
    <ListTable
      rows={rows}
      testId={testId}
      loading={false}
      error={null}
      {...(emptyText ? { emptyText } : {})}
      rowKey={(a) => `${a.start}-${a.peak_at}`}
      rowProps={(a) => ({ "data-type": a.type })}
      columns={[
        { header: t("dsStart"), cell: (a) => time(a.start) },
        { header: t("dsEnd"), cell: (a) => time(a.end) },
        { header: t("type"), cell: (a) => <span className={`badge ${a.type}`}>{localized(a.type_display, lang, a.type)}</span> },
        { header: `${t("value")} kWh`, cell: (a) => formatNumber(a.value_kwh) },
        { header: `${t("expected")} kWh`, cell: (a) => (a.expected_kwh == null ? "–" : formatNumber(a.expected_kwh)) },
        { header: t("score"), cell: (a) => a.score.toFixed(3) },
      ]}
    />
  );
}
