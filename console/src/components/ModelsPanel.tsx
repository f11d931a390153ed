import { useState, type ReactNode } from "react";
import { activate, rollback, type ModelVersion } from "../api/data";
import { formatNumber } from "../lib/chart";
import { ErrorBox, Empty } from "./Status";
import { useApp } from "./context";

/** The hold-out metrics first (MAE, MASE, …, as the trainer nests them), then any other number. */
export function metricsText(m: Record<string, unknown>): string {
  const flat: [string, number][] = [];
  const walk = (prefix: string, v: unknown): void => {
    if (typeof v === "number" && Number.isFinite(v)) flat.push([prefix, v]);
    else if (v && typeof v === "object" && !Array.isArray(v)) {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(prefix ? `${prefix}.${k}` : k, x);
    }
  };
  walk("", m);
  const rank = (k: string): number => (k.startsWith("holdout.") ? 0 : k.startsWith("training.") ? 2 : 1);
  return flat
    .filter(([k]) => !k.endsWith(".forecasts"))
    .sort((a, b) => rank(a[0]) - rank(b[0]))
    .slice(0, 6)
    .map(([k, v]) => `${k.replace(/^holdout\./, "")} ${formatNumber(v)}`)
    .join(" · ");
}

/** Model versions with metrics; activate a version or roll back (model scope only). */
export function ModelsPanel({ assetId, versions, canControl, onChanged }: { assetId: string; versions: ModelVersion[]; canControl: boolean; onChanged: () => void }): ReactNode {
  const { t } = useApp();
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const act = (f: () => Promise<unknown>): void => {
    setBusy(true);
    setError(null);
    f()
      .then(onChanged, setError)
      .finally(() => setBusy(false));
  };
  const sorted = [...versions].sort((a, b) => b.version - a.version);
  return (
    <section className="panel" aria-label={t("models")}>
      <h3>{t("models")}</h3>
      {!canControl ? <p className="muted">{t("viewerNote")}</p> : null}
      <ErrorBox error={error} />
      {!sorted.length ? <Empty text={t("noModels")} /> : null}
      {sorted.length ? (
        <div className="table-wrap">
          <table data-testid="models">
            <thead>
              <tr>
                <th>{t("version")}</th>
                <th>{t("type")}</th>
                <th>{t("status")}</th>
                <th>{t("metrics")}</th>
                <th>{t("reason")}</th>
                {canControl ? <th /> : null}
              </tr>
            </thead>
            <tbody>
              {sorted.map((v) => (
                <tr key={v.version} data-version={v.version} data-status={v.status}>
                  <td>v{v.version}</td>
                  <td>{v.model_type}</td>
                  <td>
                    <span className={`badge ${v.status}`}>{v.status}</span>
                  </td>
                  <td className="metrics">{metricsText(v.metrics)}</td>
                  <td className="reason">{v.reason}</td>
                  {canControl ? (
                    <td>
                      {v.status !== "active" ? (
                        <button type="button" disabled={busy} onClick={() => act(() => activate(assetId, v.version))}>
                          {t("activate")}
                        </button>
                      ) : null}
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {canControl && sorted.length > 1 ? (
        <button type="button" disabled={busy} onClick={() => act(() => rollback(assetId))}>
          {t("rollback")}
        </button>
      ) : null}
    </section>
  );
}
