import { useState, type ReactNode } from "react";
import { can } from "../api/auth";
import { api, failureOf, headersFor, unwrap } from "../api/client";
import { listItems } from "../api/data";
import { Empty, ErrorBox, Loading } from "../components/Status";
import { useApp } from "../components/context";
import { formatNumber } from "../lib/chart";
import { useAsync } from "../lib/useAsync";

async function listDatasets() {
  return listItems(unwrap(await api.GET("/api/v1/datasets", { params: { query: { limit: 200 } } })));
}

/** Multipart upload with progress (fetch cannot report upload progress; XMLHttpRequest can). */
function upload(file: File, onProgress: (pct: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/datasets");
    for (const [k, v] of Object.entries(headersFor("POST", document.cookie))) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(Math.round((100 * e.loaded) / e.total));
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve();
      else {
        let body: unknown = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          body = null;
        }
        reject(failureOf(xhr.status, body));
      }
    };
    xhr.onerror = () => reject(new Error("network error"));
    const form = new FormData();
    form.append("file", file);
    form.append("name", file.name.slice(0, 200));
    xhr.send(form);
  });
}

/** Datasets (issue 17's routes): list and upload with progress. Preprocessing, statistics, load
 * patterns, dashboards and reports are not in the console yet. */
export function Datasets(): ReactNode {
  const { t, session } = useApp();
  const rows = useAsync(listDatasets, []);
  const [pct, setPct] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const canWrite = can(session, "write");

  const send = (file: File): void => {
    setError(null);
    setPct(0);
    upload(file, setPct).then(
      () => {
        setPct(100);
        rows.reload();
      },
      (e: unknown) => {
        setPct(null);
        setError(e);
      },
    );
  };

  return (
    <section>
      <h2>{t("datasets")}</h2>
      {canWrite ? (
        <div className="panel">
          <label>
            {t("uploadDataset")}
            <input
              type="file"
              name="dataset"
              accept=".csv,.xlsx,text/csv"
              onChange={(e) => {
                const f = e.target.files?.[0];
                if (f) send(f);
              }}
            />
          </label>
          {pct !== null ? (
            <div className="progress-row">
              <progress max={100} value={pct} aria-label={t("progress")} />
              <span data-testid="dataset-progress">{pct} %</span>
            </div>
          ) : null}
          <ErrorBox error={error} />
        </div>
      ) : null}
      <ErrorBox error={rows.error} />
      {rows.loading && !rows.data ? <Loading text={t("loading")} /> : null}
      {rows.data && !rows.data.length ? <Empty text={t("empty")} /> : null}
      {rows.data?.length ? (
        <div className="table-wrap">
          <table data-testid="datasets">
            <thead>
              <tr>
                <th>{t("name")}</th>
                <th>{t("rows")}</th>
                <th>{t("interval")}</th>
                <th>UTC</th>
                <th>{t("status")}</th>
              </tr>
            </thead>
            <tbody>
              {rows.data.map((d) => (
                <tr key={d.id} data-name={d.name}>
                  <td>{d.name}</td>
                  <td>{formatNumber(d.row_count)}</td>
                  <td>{d.interval_s ? `${formatNumber(d.interval_s / 60)} min` : "–"}</td>
                  <td>
                    {(d.start_at ?? "").slice(0, 16).replace("T", " ")} – {(d.end_at ?? "").slice(0, 16).replace("T", " ")}
                  </td>
                  <td>
                    <span className="badge">{d.status}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
