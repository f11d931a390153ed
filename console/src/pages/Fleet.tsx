import { useEffect, useState, type ReactNode } from "react";
import { fleetPage, type FleetRow } from "../api/live";
import { useApp } from "../components/context";
import { Empty, ErrorBox, Loading } from "../components/Status";
import { formatNumber } from "../lib/chart";
import { pathOf } from "../lib/route";
import { usePaged } from "../lib/usePaged";

// One request a page (GET /fleet: last reading, anomalies in 24 h and active model of each asset in
// one query); the search goes to the server, a moment after the last key.
const SEARCH_DELAY_MS = 300;
const CAP = 10_000; // the API counts anomalies up to this many an asset

const when = (iso: string): string => iso.slice(0, 16).replace("T", " ");

export function Fleet(): ReactNode {
  const { t, navigate } = useApp();
  const [q, setQ] = useState("");
  const [needle, setNeedle] = useState("");
  useEffect(() => {
    const timer = window.setTimeout(() => setNeedle(q.trim()), SEARCH_DELAY_MS);
    return () => window.clearTimeout(timer);
  }, [q]);
  const rows = usePaged((cursor) => fleetPage(needle, cursor), [needle]);
  const shown: FleetRow[] = rows.items ?? [];

  return (
    <section>
      <h2>{t("fleet")}</h2>
      <input className="search" type="search" placeholder={t("search")} aria-label={t("search")} value={q} maxLength={128} onChange={(e) => setQ(e.target.value)} />
      <ErrorBox error={rows.error} />
      {rows.loading && !rows.items ? <Loading text={t("loading")} /> : null}
      {rows.items && !shown.length ? <Empty text={t("empty")} /> : null}
      {shown.length ? (
        <div className="table-wrap">
          <table data-testid="fleet" data-search={needle}>
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
                <tr key={r.asset_id} data-asset={r.asset_id}>
                  <td>
                    <a
                      href={pathOf({ page: "asset", assetId: r.asset_id })}
                      onClick={(e) => {
                        e.preventDefault();
                        navigate({ page: "asset", assetId: r.asset_id });
                      }}
                    >
                      {r.asset_id}
                    </a>
                  </td>
                  <td>{r.name}</td>
                  <td>{r.last_reading_at && r.last_value !== null ? `${formatNumber(r.last_value)} · ${when(r.last_reading_at)}` : "–"}</td>
                  <td className={r.anomalies_24h ? "hot" : ""}>{r.anomalies_24h >= CAP ? `${CAP}+` : r.anomalies_24h}</td>
                  <td>{r.active_model_type && r.active_version !== null ? `${r.active_model_type} v${r.active_version}` : t("none")}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {rows.hasMore ? (
        <button type="button" disabled={rows.loading} onClick={rows.more}>
          {t("loadMore")}
        </button>
      ) : null}
    </section>
  );
}
