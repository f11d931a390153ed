import { useMemo, useState, type ReactNode } from "react";
import { anomalies, listAssets, models, readings, type Asset } from "../api/data";
import { useApp } from "../components/context";
import { Empty, ErrorBox, Loading } from "../components/Status";
import { formatNumber } from "../lib/chart";
import { pathOf } from "../lib/route";
import { useAsync } from "../lib/useAsync";

interface Row {
  asset: Asset;
  last: { at: number; value: number } | null;
  anomalies24h: number | null; // null: not asked (beyond the first DETAILED assets)
  active: string | null;
}

// Details (last reading, anomalies in 24 h, active model) cost three requests an asset: they are asked
// for the first DETAILED assets of the list only, a few at a time, so a large fleet stays within the
// per-user rate limit; the rest show their id and name.
const DETAILED = 50;
const PARALLEL = 4;

async function details(asset: Asset, since: Date): Promise<Row> {
  const [series, recent, versions] = await Promise.all([
    readings(asset.asset_id, undefined, undefined, 1).catch(() => null),
    anomalies(asset.asset_id, since, undefined, 1).catch(() => []),
    models(asset.asset_id).catch(() => []),
  ]);
  const at = series?.timestamps[0];
  const value = series?.values[0];
  const active = versions.find((v) => v.status === "active");
  return {
    asset,
    last: at !== undefined && value !== undefined ? { at, value } : null,
    anomalies24h: recent.length,
    active: active ? `${active.model_type} v${active.version}` : null,
  };
}

async function fleetRows(): Promise<Row[]> {
  const assets = await listAssets();
  const since = new Date(Date.now() - 86_400_000);
  const rows: Row[] = assets.map((asset) => ({ asset, last: null, anomalies24h: null, active: null }));
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < Math.min(DETAILED, assets.length)) {
      const i = next++;
      const a = assets[i];
      if (a) rows[i] = await details(a, since);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, lane));
  return rows;
}

export function Fleet(): ReactNode {
  const { t, navigate } = useApp();
  const [q, setQ] = useState("");
  const rows = useAsync(fleetRows, []);
  const shown = useMemo(() => {
    const needle = q.trim().toLowerCase();
    return (rows.data ?? []).filter((r) => !needle || `${r.asset.asset_id} ${r.asset.name}`.toLowerCase().includes(needle));
  }, [rows.data, q]);

  return (
    <section>
      <h2>{t("fleet")}</h2>
      <input className="search" type="search" placeholder={t("search")} aria-label={t("search")} value={q} onChange={(e) => setQ(e.target.value)} />
      <ErrorBox error={rows.error} />
      {rows.loading && !rows.data ? <Loading text={t("loading")} /> : null}
      {rows.data && !shown.length ? <Empty text={t("empty")} /> : null}
      {shown.length ? (
        <div className="table-wrap">
          <table data-testid="fleet">
            <thead>
              <tr>
                <th>{t("asset")}</th>
                <th>{t("name")}</th>
                <th>{t("lastReading")}</th>
                <th>{t("anomalies24h")}</th>
                <th>{t("activeModel")}</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((r) => (
                <tr key={r.asset.asset_id}>
                  <td>
                    <a
                      href={pathOf({ page: "asset", assetId: r.asset.asset_id })}
                      onClick={(e) => {
                        e.preventDefault();
                        navigate({ page: "asset", assetId: r.asset.asset_id });
                      }}
                    >
                      {r.asset.asset_id}
                    </a>
                  </td>
                  <td>{r.asset.name}</td>
                  <td>{r.last ? `${formatNumber(r.last.value)} · ${new Date(r.last.at).toISOString().slice(0, 16).replace("T", " ")}` : "–"}</td>
                  <td className={r.anomalies24h ? "hot" : ""}>{r.anomalies24h === null ? "…" : r.anomalies24h >= 1000 ? "1000+" : r.anomalies24h}</td>
                  <td>{r.anomalies24h === null ? "…" : (r.active ?? t("none"))}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
