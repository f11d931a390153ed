// Form validation, the same rules as the API (stream_app/alerting/config.py, training-jobs, api-keys),
// so a mistake is named next to its field before a request is sent. The API still checks everything;
// its field errors (details[].loc) are mapped back onto the fields with fieldErrorsFromApi.
import type { MessageKey } from "./i18n";

export const ANOMALY_TYPES = ["spike", "dip", "sustained_high", "sustained_low", "pattern_shift", "flatline"] as const;
export const FREQUENCIES = ["immediate", "hourly", "daily_digest"] as const;
export type Frequency = (typeof FREQUENCIES)[number];

// The API's e-mail rule (AlertConfig._EMAIL), applied to the trimmed value.
const EMAIL = /^[^@\s]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$|^[^@\s]{1,64}@localhost$/;

export interface AlertForm {
  email: string;
  threshold: string;
  frequency: string;
  anomaly_types: string[];
  enabled: boolean;
}

export interface AlertConfigBody {
  email: string;
  threshold: number;
  frequency: Frequency;
  anomaly_types: (typeof ANOMALY_TYPES)[number][];
  enabled: boolean;
}

export type FieldErrors = Partial<Record<string, MessageKey | string>>;
export type Validated<T> = { ok: true; value: T } | { ok: false; errors: FieldErrors };

const isFrequency = (s: string): s is Frequency => (FREQUENCIES as readonly string[]).includes(s);
const isType = (s: string): s is (typeof ANOMALY_TYPES)[number] => (ANOMALY_TYPES as readonly string[]).includes(s);

/** A strict decimal number (no "", "1e", "0x10", " "), as a user types it. */
export function parseDecimal(s: string): number | null {
  const t = s.trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return null;
  const x = Number(t);
  return Number.isFinite(x) ? x : null;
}

export function validateAlertForm(f: AlertForm): Validated<AlertConfigBody> {
  const errors: FieldErrors = {};
  const email = f.email.trim();
  if (!email) errors["email"] = "errRequired";
  else if (email.length > 320 || !EMAIL.test(email)) errors["email"] = "errInvalidEmail";
  const threshold = parseDecimal(f.threshold);
  if (threshold === null || threshold < 0 || threshold > 1) errors["threshold"] = "errThreshold";
  if (!isFrequency(f.frequency)) errors["frequency"] = "errRequired";
  const types = [...new Set(f.anomaly_types)].filter(isType).sort();
  if (Object.keys(errors).length || threshold === null || !isFrequency(f.frequency)) return { ok: false, errors };
  return { ok: true, value: { email, threshold, frequency: f.frequency, anomaly_types: types, enabled: f.enabled } };
}

/** The API's field errors by field name: loc ["body", "email"] -> email (its own words). */
export function fieldErrorsFromApi(details: readonly { loc: readonly (string | number)[]; msg: string }[]): FieldErrors {
  const out: FieldErrors = {};
  for (const d of details) {
    const [where, field] = d.loc;
    if (where === "body" && typeof field === "string" && out[field] === undefined) out[field] = d.msg;
  }
  return out;
}

export interface TrainForm {
  model_type: string;
  horizon: string;
  source: "history" | "upload" | "url" | "dataset";
  data_url: string;
  /** The chosen dataset's id (source "dataset"); sent as data_url "dataset:<id>". */
  dataset_id: string;
}

// The API takes a dataset id in its canonical 8-4-4-4-12 form only (stream_app.lifecycle.datasource).
const DATASET_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface TrainingBody {
  asset_id: string;
  model_type: string;
  params: { horizon: number };
  data_url: string | null;
}

export function validateTrainForm(assetId: string, f: TrainForm, uploaded: number): Validated<TrainingBody> {
  const errors: FieldErrors = {};
  if (!f.model_type.trim()) errors["model_type"] = "errRequired";
  const h = parseDecimal(f.horizon);
  if (h === null || !Number.isInteger(h) || h < 1 || h > 1000) errors["horizon"] = "errHorizon";
  if (f.source === "upload" && uploaded === 0) errors["file"] = "errFile";
  const url = f.data_url.trim();
  if (f.source === "url" && !/^(https?|file):\/\/\S+$/i.test(url)) errors["data_url"] = "errRequired";
  const dataset = f.dataset_id.trim().toLowerCase();
  if (f.source === "dataset" && !DATASET_ID.test(dataset)) errors["dataset_id"] = "errDataset";
  if (Object.keys(errors).length || h === null) return { ok: false, errors };
  const source = f.source === "url" ? url : f.source === "dataset" ? `dataset:${dataset}` : "history";
  return {
    ok: true,
    value: {
      asset_id: assetId,
      model_type: f.model_type.trim(),
      params: { horizon: h },
      data_url: source,
    },
  };
}

export interface CsvReadings {
  rows: { timestamp: string; value: number }[];
}

/** An uploaded CSV (header naming a time column and a value column; the first two columns else) as
 * readings. An error names its line; a file with no usable row is an error. */
export function parseReadingsCsv(text: string, maxRows = 200_000): { ok: true; value: CsvReadings } | { ok: false; error: string } {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  if (lines.length < 2) return { ok: false, error: "the file needs a header line and at least one reading" };
  if (lines.length - 1 > maxRows) return { ok: false, error: `at most ${maxRows} readings per file` };
  const header = (lines[0] ?? "").split(",").map((h) => h.trim().toLowerCase());
  let ti = header.findIndex((h) => ["timestamp", "datetime", "time", "date"].includes(h));
  let vi = header.findIndex((h) => h === "value");
  if (ti < 0) ti = 0;
  if (vi < 0) vi = ti === 0 ? 1 : 0;
  const rows: { timestamp: string; value: number }[] = [];
  for (let i = 1; i < lines.length; i++) {
    const cells = (lines[i] ?? "").split(",");
    const ts = (cells[ti] ?? "").trim();
    const raw = (cells[vi] ?? "").trim();
    if (raw === "") continue; // a gap: the stream fills nothing in either
    const value = parseDecimal(raw);
    const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(ts) ? ts : `${ts.replace(" ", "T")}Z`;
    const t = Date.parse(iso);
    if (value === null) return { ok: false, error: `line ${i + 1}: value '${raw.slice(0, 40)}' is not a number` };
    if (!Number.isFinite(t)) return { ok: false, error: `line ${i + 1}: '${ts.slice(0, 40)}' is not a time` };
    rows.push({ timestamp: new Date(t).toISOString(), value });
  }
  if (!rows.length) return { ok: false, error: "no readings in the file" };
  return { ok: true, value: { rows } };
}

export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export const KEY_SCOPES = ["read", "write", "model", "admin"] as const;

export function validateKeyForm(name: string, scopes: readonly string[]): Validated<{ name: string; scopes: string[] }> {
  const errors: FieldErrors = {};
  const n = name.trim();
  if (!n || n.length > 100) errors["name"] = "errRequired";
  const s = scopes.filter((x) => (KEY_SCOPES as readonly string[]).includes(x));
  if (!s.length) errors["scopes"] = "errRequired";
  if (Object.keys(errors).length) return { ok: false, errors };
  return { ok: true, value: { name: n, scopes: s } };
}
