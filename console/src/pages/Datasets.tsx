import { useEffect, useState, type ReactNode } from "react";
import { can } from "../api/auth";
import { ApiFailure, failureOf, headersFor } from "../api/client";
import { listDatasets, type Dataset, type DatasetStatus } from "../api/datasets";
import { ListTable, type Column } from "../components/ListTable";
import { ShownError, type ShownErrors } from "../components/PeriodFields";
import { ErrorBox } from "../components/Status";
import { useApp } from "../components/context";
import { formatNumber } from "../lib/chart";
import { UNITS, UPLOAD_TEXT_FIELDS, apiFieldErrors, validateUploadOptions, type UploadOptionsForm } from "../lib/datasets";
import type { MessageKey } from "../lib/i18n";
import { pathOf } from "../lib/route";
import { startLoad } from "../lib/useAsync";

/** Multipart upload with progress (fetch cannot report upload progress; XMLHttpRequest can). */
function upload(file: File, fields: [string, string][], onProgress: (pct: number) => void): Promise<void> {
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
    for (const [k, v] of fields) form.append(k, v);
    xhr.send(form);
  });
}

const STATUSES: readonly DatasetStatus[] = ["ready", "processing", "processed"];
const UPLOAD_TEXT_LABELS: Record<(typeof UPLOAD_TEXT_FIELDS)[number], MessageKey> = {
  timestamp_column: "dsTimestampColumn",
  value_column: "dsValueColumn",
  sheet: "dsSheet",
};

/** Pages of datasets, newest first, of one status or all; "More" appends the next page. */
function useDatasetPages(status: DatasetStatus | "", version: number): {
  rows: Dataset[] | undefined;
  error: unknown;
  loading: boolean;
  more: (() => void) | null;
} {
  const [pages, setPages] = useState<{ key: string; rows: Dataset[]; cursor: string | null } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  const key = `${status}|${version}`;
  const load = (cursor: string | null, before: Dataset[]): (() => void) =>
    startLoad(
      () => listDatasets(status, cursor),
      (p) => setPages({ key, rows: [...before, ...p.items], cursor: p.has_more ? p.next_cursor : null }),
      setError,
      setLoading,
    );
  // eslint-disable-next-line react-hooks/exhaustive-deps
  useEffect(() => load(null, []), [key]);
  const current = pages?.key === key ? pages : null;
  return {
    rows: current?.rows,
    error,
    loading,
    more: current?.cursor ? () => void load(current.cursor, current.rows) : null,
  };
}

/** Datasets (issue 17's routes): the list (status filter, pages), upload with progress, and a page per
 * dataset (DatasetsDetail) for preprocessing, statistics, load patterns, anomalies, dashboard, reports. */
export function Datasets(): ReactNode {
  const { t, session, navigate } = useApp();
  const [status, setStatus] = useState<DatasetStatus | "">("");
  const [version, setVersion] = useState(0);
  const list = useDatasetPages(status, version);
  const [pct, setPct] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [options, setOptions] = useState<UploadOptionsForm>({ timezone: "", unit: "", scale: "", timestamp_column: "", value_column: "", sheet: "" });
  const [optionErrors, setOptionErrors] = useState<ShownErrors>({});
  const canWrite = can(session, "write");

  const send = (file: File): void => {
    setError(null);
    const v = validateUploadOptions(options);
    if (!v.ok) {
      const text: Record<string, MessageKey> = { zoneName: "errZoneName", badChoice: "errBadChoice", scaleRange: "errScaleRange", nameLength: "errNameLength" };
      setOptionErrors(Object.fromEntries(Object.entries(v.errors).map(([f, code]) => [f, t(text[code] ?? "errBadChoice")])));
      return;
    }
    setOptionErrors({});
    setPct(0);
    upload(file, v.fields, setPct).then(
      () => {
        setPct(100);
        setVersion((v) => v + 1);
      },
      (e: unknown) => {
        setPct(null);
        setError(e);
        if (e instanceof ApiFailure) setOptionErrors(apiFieldErrors(e.details));
      },
    );
  };

  const open = (d: Dataset): ReactNode => (
    <a
      href={pathOf({ page: "dataset", datasetId: d.id })}
      onClick={(e) => {
        e.preventDefault();
        navigate({ page: "dataset", datasetId: d.id });
      }}
    >
      {d.name}
    </a>
  );
  const columns: Column<Dataset>[] = [
    { header: t("name"), cell: open },
    { header: t("rows"), cell: (d) => formatNumber(d.row_count) },
    { header: t("interval"), cell: (d) => (d.interval_s ? `${formatNumber(d.interval_s / 60)} min` : "–") },
    { header: "UTC", cell: (d) => `${(d.start_at ?? "").slice(0, 16).replace("T", " ")} – ${(d.end_at ?? "").slice(0, 16).replace("T", " ")}` },
    { header: t("status"), cell: (d) => <span className="badge">{t(`dsStatus_${d.status}` as MessageKey)}</span> },
  ];

  return (
    <section>
      <h2>{t("datasets")}</h2>
      {canWrite ? (
        <div className="panel">
          <fieldset className="form-row">
            <legend>{t("dsUploadOptions")}</legend>
            <label>
              {t("dsUploadZone")}
              <input name="upload-timezone" placeholder="UTC" value={options.timezone} onChange={(e) => setOptions({ ...options, timezone: e.target.value })} />
              <ShownError errors={optionErrors} name="timezone" />
            </label>
            <label>
              {t("dsUnit")}
              <select name="upload-unit" value={options.unit} onChange={(e) => setOptions({ ...options, unit: e.target.value })}>
                {UNITS.map((u) => (
                  <option key={u} value={u}>
                    {u || t("dsUnitDetect")}
                  </option>
                ))}
              </select>
              <ShownError errors={optionErrors} name="unit" />
            </label>
            <label>
              {t("dsScale")}
              <input name="upload-scale" placeholder="1" size={8} value={options.scale} onChange={(e) => setOptions({ ...options, scale: e.target.value })} />
              <ShownError errors={optionErrors} name="scale" />
            </label>
            {UPLOAD_TEXT_FIELDS.map((f) => (
              <label key={f}>
                {t(UPLOAD_TEXT_LABELS[f])}
                <input name={`upload-${f}`} maxLength={200} placeholder={t("dsDetected")} value={options[f]} onChange={(e) => setOptions({ ...options, [f]: e.target.value })} />
                <ShownError errors={optionErrors} name={f} />
              </label>
            ))}
            <p className="muted hint">{t("dsScaleHint")}</p>
          </fieldset>
          <label>
            {t("uploadDataset")}
            <input
              type="file"
              name="dataset"
              accept=".csv,.xlsx,text/csv"
              onChange={(e) => {
                const f = e.target.files?.[0];
                if (f) send(f);
                e.target.value = ""; // the same file may be chosen again after fixing an option
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
      <div className="toolbar">
        <label className="inline">
          {t("status")}
          <select name="dataset-status" value={status} onChange={(e) => setStatus(e.target.value as DatasetStatus | "")}>
            <option value="">{t("dsAllStatuses")}</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {t(`dsStatus_${s}` as MessageKey)}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ListTable
        rows={list.rows}
        columns={columns}
        rowKey={(d) => d.id}
        rowProps={(d) => ({ "data-name": d.name, "data-status": d.status })}
        testId="datasets"
        loading={list.loading}
        error={list.error}
        footer={
          list.more ? (
            <button type="button" className="link" onClick={list.more} disabled={list.loading}>
              {t("dsMore")}
            </button>
          ) : null
        }
      />
    </section>
  );
}
