import { useState, type ReactNode } from "react";
import { postReadings, startTraining } from "../api/data";
import { ApiFailure } from "../api/client";
import { listDatasets, type Dataset } from "../api/datasets";
import { chunks, fieldErrorsFromApi, parseReadingsCsv, validateTrainForm, type FieldErrors, type TrainForm } from "../lib/forms";
import { FieldError } from "./FieldError";
import { JobFollower } from "./JobFollower";
import { useAsync } from "../lib/useAsync";
import { Empty, ErrorBox, Loading } from "./Status";
import { useApp } from "./context";

const MODEL_TYPES = ["lightgbm", "seasonal_naive", "dlinear", "nlinear", "tide", "lstm", "tft"];
const BATCH = 5000;



/** The datasets a job can train on: ready (as uploaded) or processed (preprocessed), the newest first page of each. */
async function trainableDatasets(): Promise<Dataset[]> {
  const [ready, processed] = await Promise.all([listDatasets("ready", null), listDatasets("processed", null)]);
  return [...ready.items, ...processed.items].sort((a, b) => b.created_at.localeCompare(a.created_at));
}

/** Start a training job (from the asset's readings, an uploaded CSV sent as readings, a data URL or a dataset) and follow it. */
export function TrainingPanel({ assetId, canUpload, onTrained }: { assetId: string; canUpload: boolean; onTrained: () => void }): ReactNode {
  const { t } = useApp();
  const [form, setForm] = useState<TrainForm>({ model_type: "lightgbm", horizon: "24", source: "history", data_url: "", dataset_id: "" });
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState<unknown>(null);
  const [uploaded, setUploaded] = useState(0);
  const [uploadText, setUploadText] = useState("");
  const [busy, setBusy] = useState(false);
  const [jobId, setJobId] = useState<string | null>(null);
  const wantsDatasets = form.source === "dataset";
  const datasets = useAsync(() => (wantsDatasets ? trainableDatasets() : Promise.resolve([])), [wantsDatasets]);

  const upload = async (file: File): Promise<void> => {
    setError(null);
    setUploaded(0);
    const parsed = parseReadingsCsv(await file.text());
    if (!parsed.ok) {
      setErrors({ file: parsed.error });
      return;
    }
    setErrors({});
    setBusy(true);
    try {
      const rows = parsed.value.rows.map((r) => ({ asset_id: assetId, timestamp: r.timestamp, value: r.value }));
      let sent = 0;
      for (const batch of chunks(rows, BATCH)) {
        await postReadings(batch);
        sent += batch.length;
        setUploadText(`${sent} / ${rows.length}`);
      }
      setUploaded(sent);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const start = async (): Promise<void> => {
    const v = validateTrainForm(assetId, form, uploaded);
    if (!v.ok) {
      setErrors(v.errors);
      return;
    }
    setErrors({});
    setError(null);
    setBusy(true);
    try {
      const job = await startTraining(v.value);
      setJobId(job.id);
    } catch (err) {
      if (err instanceof ApiFailure && err.details.length) setErrors(fieldErrorsFromApi(err.details));
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel" aria-label={t("training")}>
      <h3>{t("training")}</h3>
      <div className="form-grid">
        <label>
          {t("modelType")}
          <select name="model_type" value={form.model_type} onChange={(e) => setForm({ ...form, model_type: e.target.value })}>
            {MODEL_TYPES.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
          <FieldError errors={errors} name="model_type" t={t} />
        </label>
        <label>
          {t("horizon")}
          <input name="horizon" inputMode="numeric" value={form.horizon} onChange={(e) => setForm({ ...form, horizon: e.target.value })} />
          <FieldError errors={errors} name="horizon" t={t} />
          <FieldError errors={errors} name="params" t={t} />
        </label>
        <fieldset>
          <legend>{t("dataSource")}</legend>
          <label className="inline">
            <input type="radio" name="source" checked={form.source === "history"} onChange={() => setForm({ ...form, source: "history" })} />
            {t("dataHistory")}
          </label>
          {canUpload ? (
            <label className="inline">
              <input type="radio" name="source" value="upload" checked={form.source === "upload"} onChange={() => setForm({ ...form, source: "upload" })} />
              {t("dataUpload")}
            </label>
          ) : null}
          <label className="inline">
            <input type="radio" name="source" value="url" checked={form.source === "url"} onChange={() => setForm({ ...form, source: "url" })} />
            {t("dataUrl")}
          </label>
          <label className="inline">
            <input type="radio" name="source" value="dataset" checked={form.source === "dataset"} onChange={() => setForm({ ...form, source: "dataset" })} />
            {t("dataDataset")}
          </label>
          {form.source === "upload" ? (
            <div>
              <input
                type="file"
                name="file"
                accept=".csv,text/csv"
                aria-label={t("file")}
                onChange={(e) => {
                  const f = e.target.files?.[0];
                  if (f) void upload(f);
                }}
              />
              <span data-testid="upload-status">{uploaded ? `${uploaded} ${t("uploaded")}` : uploadText}</span>
              <FieldError errors={errors} name="file" t={t} />
            </div>
          ) : null}
          {form.source === "url" ? (
            <label>
              <input name="data_url" value={form.data_url} placeholder="https://…/readings.csv" onChange={(e) => setForm({ ...form, data_url: e.target.value })} />
              <FieldError errors={errors} name="data_url" t={t} />
            </label>
          ) : null}
          {form.source === "dataset" ? (
            <div>
              {datasets.loading ? <Loading text={t("loading")} /> : null}
              <ErrorBox error={datasets.error} />
              {!datasets.loading && !datasets.error && datasets.data?.length === 0 ? <Empty text={t("noTrainableDatasets")} /> : null}
              {datasets.data?.length ? (
                <label>
                  {t("chooseDataset")}
                  <select name="dataset_id" value={form.dataset_id} onChange={(e) => setForm({ ...form, dataset_id: e.target.value })}>
                    <option value="">—</option>
                    {datasets.data.map((d) => (
                      <option key={d.id} value={d.id}>
                        {`${d.name} (${d.row_count}, ${d.status})`}
                      </option>
                    ))}
                  </select>
                </label>
              ) : null}
              <FieldError errors={errors} name="dataset_id" t={t} />
              <FieldError errors={errors} name="data_url" t={t} />
            </div>
          ) : null}
        </fieldset>
      </div>
      <button type="button" disabled={busy} onClick={() => void start()}>
        {t("startTraining")}
      </button>
      <ErrorBox error={error} />
      {jobId ? <JobFollower key={jobId} jobId={jobId} canCancel onEnded={() => onTrained()} /> : null}
    </section>
  );
}
