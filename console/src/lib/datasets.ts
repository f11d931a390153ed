// The Datasets pages' logic, pure (Vitest covers it): hour sets of the tariff periods validated as the
// API validates them (schemas/analytics.py TariffPeriods), prices, the preprocess form, job states, and
// the shaping of dashboard and load-pattern results into chart series.
import type { Lang } from "./i18n";

export type PeriodField = "peak_hours" | "valley_hours" | "flat_hours";
export const PERIOD_FIELDS: readonly PeriodField[] = ["peak_hours", "valley_hours", "flat_hours"];

/** What is wrong with one hour-set field; the field is the one the API would name. */
export type HourError =
  | { kind: "syntax"; token: string }
  | { kind: "twice"; hours: number[] }
  | { kind: "overlap"; hours: number[]; other: "peak" | "peak_or_valley" }
  | { kind: "uncovered"; hours: number[] };

export interface Periods {
  peak_hours: number[];
  valley_hours: number[];
  flat_hours: number[];
}

/** The API's default split (DEFAULT_PERIODS): peak 8-10 and 18-20, valley 23-6, flat the rest. */
export const DEFAULT_PERIOD_TEXT: Record<PeriodField, string> = {
  peak_hours: "8-10, 18-20",
  valley_hours: "23-6",
  flat_hours: "7, 11-17, 21-22",
};

/** "8-10, 18-20" or "23-6" (a range may wrap past midnight) into hours, in the order written, repeats
 * kept (the validation names them). An empty text is no hours. */
export function parseHours(text: string): number[] | { token: string } {
  const out: number[] = [];
  for (const raw of text.split(/[,，\s]+/)) {
    const token = raw.trim();
    if (!token) continue;
    const m = /^(\d{1,2})(?:\s*[-–~]\s*(\d{1,2}))?$/.exec(token);
    if (!m) return { token };
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (a > 23 || b > 23) return { token };
    for (let h = a; ; h = (h + 1) % 24) {
      out.push(h);
      if (h === b) break;
    }
  }
  return out;
}

/** Hours as short ranges: [0,1,2,5,23] -> "0-2, 5, 23". */
export function formatHours(hours: readonly number[]): string {
  const s = [...new Set(hours)].sort((x, y) => x - y);
  const parts: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === (s[j] as number) + 1) j++;
    parts.push(i === j ? `${s[i]}` : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return parts.join(", ");
}

const sortedUnique = (xs: Iterable<number>): number[] => [...new Set(xs)].sort((a, b) => a - b);

/** The three sets must cover 0-23 without overlap; an error goes on the field the API names:
 * repeats on their own field, peak and valley sharing an hour on valley_hours, flat sharing one (or
 * hours in no set) on flat_hours. */
export function validatePeriods(
  texts: Record<PeriodField, string>,
): { ok: true; value: Periods } | { ok: false; errors: Partial<Record<PeriodField, HourError>> } {
  const errors: Partial<Record<PeriodField, HourError>> = {};
  const sets: Partial<Record<PeriodField, number[]>> = {};
  for (const f of PERIOD_FIELDS) {
    const parsed = parseHours(texts[f]);
    if (!Array.isArray(parsed)) {
      errors[f] = { kind: "syntax", token: parsed.token };
      continue;
    }
    const twice = sortedUnique(parsed.filter((h, i) => parsed.indexOf(h) !== i));
    if (twice.length) errors[f] = { kind: "twice", hours: twice };
    else sets[f] = sortedUnique(parsed);
  }
  const { peak_hours: peak, valley_hours: valley, flat_hours: flat } = sets;
  if (peak && valley) {
    const both = valley.filter((h) => peak.includes(h));
    if (both.length) {
      errors.valley_hours = { kind: "overlap", hours: both, other: "peak" };
      delete sets.valley_hours;
    }
  }
  if (flat && sets.peak_hours && sets.valley_hours) {
    const taken = new Set([...sets.peak_hours, ...sets.valley_hours]);
    const both = flat.filter((h) => taken.has(h));
    const missing = Array.from({ length: 24 }, (_, h) => h).filter((h) => !taken.has(h) && !flat.includes(h));
    if (both.length) errors.flat_hours = { kind: "overlap", hours: both, other: "peak_or_valley" };
    else if (missing.length) errors.flat_hours = { kind: "uncovered", hours: missing };
  }
  if (Object.keys(errors).length || !sets.peak_hours || !sets.valley_hours || !sets.flat_hours) return { ok: false, errors };
  return { ok: true, value: { peak_hours: sets.peak_hours, valley_hours: sets.valley_hours, flat_hours: sets.flat_hours } };
}

export const MAX_PRICE = 1e6;
export type PriceField = "peak" | "valley" | "flat" | "currency";
export interface Prices {
  peak: number;
  valley: number;
  flat: number;
  currency: string;
}

/** Optional prices: all three empty is none; otherwise each a finite number 0..1e6 and an ISO 4217
 * code (three capitals), as TariffPrices requires. Errors name the field: "number" or "currency". */
export function validatePrices(
  texts: Record<PriceField, string>,
): { ok: true; value: Prices | null } | { ok: false; errors: Partial<Record<PriceField, "priceRange" | "currencyCode">> } {
  const fields = ["peak", "valley", "flat"] as const;
  if (fields.every((f) => !texts[f].trim())) return { ok: true, value: null };
  const errors: Partial<Record<PriceField, "priceRange" | "currencyCode">> = {};
  const nums: Partial<Record<(typeof fields)[number], number>> = {};
  for (const f of fields) {
    const t = texts[f].trim();
    const n = t === "" ? NaN : Number(t);
    if (!Number.isFinite(n) || n < 0 || n > MAX_PRICE) errors[f] = "priceRange";
    else nums[f] = n;
  }
  const currency = texts.currency.trim() || "CNY";
  if (!/^[A-Z]{3}$/.test(currency)) errors.currency = "currencyCode";
  if (Object.keys(errors).length) return { ok: false, errors };
  return { ok: true, value: { peak: nums.peak as number, valley: nums.valley as number, flat: nums.flat as number, currency } };
}

// A name shaped like an IANA zone ("UTC", "Europe/Paris"); the API checks that it exists.
const IANA = /^(UTC|[A-Za-z]+(\/[A-Za-z0-9_+-]+)+)$/;

export const MISSING = ["interpolate", "forward_fill", "drop"] as const;
export const OUTLIERS = ["clip", "remove", "none"] as const;
export const RESAMPLE = ["", "15min", "30min", "1h", "1d"] as const;
const RESAMPLE_S: Record<string, number> = { "15min": 900, "30min": 1800, "1h": 3600, "1d": 86400 };

export interface PreprocessForm {
  missing: string;
  outliers: string;
  outlier_k: string;
  resample: string;
  timezone: string;
}
export interface PreprocessBody {
  missing: (typeof MISSING)[number];
  outliers: (typeof OUTLIERS)[number];
  outlier_k: number;
  resample: "15min" | "30min" | "1h" | "1d" | null;
  timezone: string | null;
}
export type PreprocessErrors = Partial<Record<keyof PreprocessForm, "kRange" | "coarserOnly" | "badChoice" | "zoneName">>;

/** PreprocessParams' rules: outlier_k 1..20, a resample interval coarser than the dataset's (finer is
 * the API's 422 on resample), a zone that looks like an IANA name (the API has the final word). */
export function validatePreprocess(
  form: PreprocessForm,
  intervalS: number,
): { ok: true; value: PreprocessBody } | { ok: false; errors: PreprocessErrors } {
  const errors: PreprocessErrors = {};
  if (!(MISSING as readonly string[]).includes(form.missing)) errors.missing = "badChoice";
  if (!(OUTLIERS as readonly string[]).includes(form.outliers)) errors.outliers = "badChoice";
  const k = form.outlier_k.trim() === "" ? NaN : Number(form.outlier_k);
  if (!Number.isFinite(k) || k < 1 || k > 20) errors.outlier_k = "kRange";
  if (!(RESAMPLE as readonly string[]).includes(form.resample)) errors.resample = "badChoice";
  else if (form.resample && (RESAMPLE_S[form.resample] as number) < intervalS) errors.resample = "coarserOnly";
  const tz = form.timezone.trim();
  if (tz && !IANA.test(tz)) errors.timezone = "zoneName";
  if (Object.keys(errors).length) return { ok: false, errors };
  return {
    ok: true,
    value: {
      missing: form.missing as PreprocessBody["missing"],
      outliers: form.outliers as PreprocessBody["outliers"],
      outlier_k: k,
      resample: (form.resample || null) as PreprocessBody["resample"],
      timezone: tz || null,
    },
  };
}

/** k-means takes k 2..5; the rules method ignores k. */
export function validatePatterns(method: string, kText: string): { ok: true; value: { method: "kmeans" | "rules"; k: number } } | { ok: false } {
  if (method === "rules") return { ok: true, value: { method, k: 3 } };
  const k = Number(kText);
  if (method !== "kmeans" || !Number.isInteger(k) || k < 2 || k > 5) return { ok: false };
  return { ok: true, value: { method, k } };
}

export const JOB_TERMINAL = new Set(["succeeded", "failed", "canceled"]);

/** Poll delay for a generic job (no SSE stream for them): quick at first, then every 2 s. */
export function pollDelayMs(attempt: number): number {
  return Math.min(2000, 250 * 2 ** Math.max(0, attempt));
}

export type Localized = Partial<Record<Lang, string>>;

/** A label in the UI's language, else the other one, else the code. */
export function localized(names: Localized | null | undefined, lang: Lang, fallback: string): string {
  return names?.[lang] ?? names?.["en-US"] ?? names?.["zh-CN"] ?? fallback;
}

// Shapes of the job results (JobResultBody.data is untyped in the OpenAPI document).
export interface PeriodShare {
  period: string;
  display_name: Localized;
  hours: number[];
  kwh: number;
  ratio: number;
  cost?: number | null;
}
export interface LoadPattern {
  id: number;
  label: string;
  display_name: Localized;
  description: Localized;
  confidence: number;
  days: number;
  share: number;
  centroid: number[];
  profile: number[];
  daily_kwh: number;
}

/** 24 values, one per hour (null where the curve has no hour). */
export function hourCurve(points: readonly { hour: number; kwh: number }[]): (number | null)[] {
  const out: (number | null)[] = Array.from({ length: 24 }, () => null);
  for (const p of points) if (Number.isInteger(p.hour) && p.hour >= 0 && p.hour < 24 && Number.isFinite(p.kwh)) out[p.hour] = p.kwh;
  return out;
}

/** Daily totals as [date, kWh] pairs, oldest first, non-finite dropped. */
export function dailySeries(days: readonly { date: string; kwh: number }[]): [string, number][] {
  return days
    .filter((d) => Number.isFinite(d.kwh))
    .map((d): [string, number] => [d.date, d.kwh])
    .sort((a, b) => a[0].localeCompare(b[0]));
}

/** The period pie: one slice per period, named in the UI language, empty periods left out. */
export function periodPie(periods: readonly PeriodShare[], lang: Lang): { name: string; value: number; period: string }[] {
  return periods.filter((p) => Number.isFinite(p.kwh) && p.kwh > 0).map((p) => ({ name: localized(p.display_name, lang, p.period), value: p.kwh, period: p.period }));
}

/** One line per pattern (its centroid, kWh of each hour), named "<display name> · <days>" so two
 * clusters with one label stay apart. */
export function patternSeries(patterns: readonly LoadPattern[], lang: Lang, daysWord: string): { name: string; data: (number | null)[] }[] {
  return patterns.map((p) => ({
    name: `#${p.id} ${localized(p.display_name, lang, p.label)} · ${p.days} ${daysWord}`,
    data: Array.from({ length: 24 }, (_, h) => {
      const v = p.centroid[h];
      return v !== undefined && Number.isFinite(v) ? v : null;
    }),
  }));
}

/** Recommendations in the order to show them: warnings first, then as the API gave them. */
export function orderRecommendations<R extends { severity: string }>(recs: readonly R[] | undefined): R[] {
  const rank = (r: R): number => (r.severity === "warning" ? 0 : 1);
  return [...(recs ?? [])].map((r, i) => ({ r, i })).sort((x, y) => rank(x.r) - rank(y.r) || x.i - y.i).map((x) => x.r);
}

/** The API's 422 details by the innermost field they name (`["body", "periods", "valley_hours"]` ->
 * `valley_hours`), the first message of each kept. */
export function apiFieldErrors(details: readonly { loc: readonly (string | number)[]; msg: string }[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of details) {
    const names = d.loc.filter((x): x is string => typeof x === "string" && x !== "body" && x !== "query");
    const field = names[names.length - 1];
    if (field && out[field] === undefined) out[field] = d.msg;
  }
  return out;
}

export const UNITS = ["", "Wh", "kWh", "MWh", "kW"] as const;
export interface UploadOptionsForm {
  timezone: string;
  unit: string;
  scale: string;
  timestamp_column: string;
  value_column: string;
  sheet: string;
}
export const UPLOAD_TEXT_FIELDS = ["timestamp_column", "value_column", "sheet"] as const;
export type UploadErrors = Partial<Record<keyof UploadOptionsForm, "zoneName" | "badChoice" | "scaleRange" | "nameLength">>;


/** A scale as a number or a fraction ("1/60": minute-average kW summed over an hour, to kWh). */
export function parseScale(text: string): number {
  const m = /^\s*([0-9.eE+-]+)\s*(?:\/\s*([0-9.eE+-]+)\s*)?$/.exec(text);
  if (!m) return NaN;
  const a = Number(m[1]);
  const b = m[2] === undefined ? 1 : Number(m[2]);
  return b === 0 ? NaN : a / b;
}

/** The upload's optional form fields as POST /datasets takes them (timezone, unit, scale in (0, 1e9],
 * the timestamp and value columns and the Excel sheet by name);
 * empty fields are left out (the API detects or defaults). */
export function validateUploadOptions(form: UploadOptionsForm): { ok: true; fields: [string, string][] } | { ok: false; errors: UploadErrors } {
  const errors: UploadErrors = {};
  const fields: [string, string][] = [];
  const tz = form.timezone.trim();
  if (tz && !IANA.test(tz)) errors.timezone = "zoneName";
  else if (tz) fields.push(["timezone", tz]);
  if (!(UNITS as readonly string[]).includes(form.unit)) errors.unit = "badChoice";
  else if (form.unit) fields.push(["unit", form.unit]);
  if (form.scale.trim()) {
    const s = parseScale(form.scale);
    if (!Number.isFinite(s) || s <= 0 || s > 1e9) errors.scale = "scaleRange";
    else fields.push(["scale", String(s)]);
  }
  for (const f of UPLOAD_TEXT_FIELDS) {
    const v = form[f].trim(); // a column or sheet name, 1-200 characters; empty: detected
    if (v.length > 200) errors[f] = "nameLength";
    else if (v) fields.push([f, v]);
  }
  return Object.keys(errors).length ? { ok: false, errors } : { ok: true, fields };
}

/** The newest job of each type among `jobs` (any order in, any status): what each section of the
 * dataset page shows when it opens. */
export function latestByType<J extends { type: string; created_at: string }>(jobs: readonly J[]): Record<string, J> {
  const out: Record<string, J> = {};
  for (const j of jobs) {
    const seen = out[j.type];
    if (!seen || j.created_at > seen.created_at) out[j.type] = j;
  }
  return out;
}

/** PATCH /datasets/{id}: only what changed (a name 1-200 characters, an IANA-shaped zone); nothing
 * changed is no request. */
export function validatePatch(
  form: { name: string; timezone: string },
  current: { name: string; timezone: string },
): { ok: true; body: { name?: string; timezone?: string } | null } | { ok: false; errors: Partial<Record<"name" | "timezone", "nameLength" | "zoneName">> } {
  const name = form.name.trim();
  const tz = form.timezone.trim();
  const errors: Partial<Record<"name" | "timezone", "nameLength" | "zoneName">> = {};
  if (name.length < 1 || name.length > 200) errors.name = "nameLength";
  if (!IANA.test(tz)) errors.timezone = "zoneName";
  if (Object.keys(errors).length) return { ok: false, errors };
  const body: { name?: string; timezone?: string } = {};
  if (name !== current.name) body.name = name;
  if (tz !== current.timezone) body.timezone = tz;
  return { ok: true, body: Object.keys(body).length ? body : null };
}

/** Where the last `n` readings of a dataset start: `n - 1` intervals before its last reading. */
export function lastWindowStart(endAt: string, intervalS: number, n: number): string {
  return new Date(Date.parse(endAt) - Math.max(0, n - 1) * intervalS * 1000).toISOString();
}

/** A compact data page ([timestamp, kWh | null] pairs; or full points) as [ms, kWh | null], oldest first;
 * unreadable timestamps dropped, non-finite values as gaps. */
export function seriesPoints(items: readonly unknown[]): [number, number | null][] {
  const out: [number, number | null][] = [];
  for (const it of items) {
    let ts: unknown;
    let v: unknown;
    if (Array.isArray(it)) [ts, v] = it as unknown[];
    else if (it && typeof it === "object") ({ timestamp: ts, value: v } = it as { timestamp?: unknown; value?: unknown });
    const ms = typeof ts === "string" ? Date.parse(ts) : NaN;
    if (!Number.isFinite(ms)) continue;
    out.push([ms, typeof v === "number" && Number.isFinite(v) ? v : null]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}
