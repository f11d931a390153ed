// Chart data shaping for the asset page: readings, forecast with its band, anomalies by type.
// Pure: the page hands it what the API answered and gives the result to ECharts.

export interface ReadingSeries {
  timestamps: number[]; // epoch ms, ascending
  values: number[];
}

export interface ForecastPoint {
  timestamp: string;
  predicted_value: number;
  lower: number;
  upper: number;
}

export interface AnomalyRow {
  event_id: string;
  timestamp: string;
  value: number;
  expected: number;
  score: number;
  type: string;
  reason: string;
}

export type Point = [number, number];

export interface AnomalyMarker {
  value: Point;
  expected: number;
  reason: string;
  score: number;
  type: string;
}

export interface AssetChartData {
  readings: Point[];
  forecast: Point[];
  bandLower: Point[]; // stacked: the band's base ...
  bandWidth: Point[]; // ... and its height (upper - lower, never negative)
  anomalies: Record<string, AnomalyMarker[]>; // by type, time order, one per event
}

const finite = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);

export function readingPoints(series: ReadingSeries): Point[] {
  const out: Point[] = [];
  const n = Math.min(series.timestamps.length, series.values.length);
  for (let i = 0; i < n; i++) {
    const t = series.timestamps[i];
    const v = series.values[i];
    if (finite(t) && finite(v)) out.push([t, v]);
  }
  return out;
}

export function shapeAssetChart(
  readings: ReadingSeries,
  forecast: readonly ForecastPoint[] | null,
  anomalies: readonly AnomalyRow[],
): AssetChartData {
  const fc: Point[] = [];
  const lower: Point[] = [];
  const width: Point[] = [];
  for (const p of forecast ?? []) {
    const t = Date.parse(p.timestamp);
    if (!finite(t) || !finite(p.predicted_value)) continue;
    fc.push([t, p.predicted_value]);
    if (finite(p.lower) && finite(p.upper)) {
      const lo = Math.min(p.lower, p.upper);
      lower.push([t, lo]);
      width.push([t, Math.max(p.lower, p.upper) - lo]);
    }
  }
  const seen = new Set<string>();
  const byType: Record<string, AnomalyMarker[]> = {};
  const sorted = [...anomalies].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
  for (const a of sorted) {
    const t = Date.parse(a.timestamp);
    if (seen.has(a.event_id) || !finite(t) || !finite(a.value)) continue;
    seen.add(a.event_id);
    (byType[a.type] ??= []).push({ value: [t, a.value], expected: a.expected, reason: a.reason, score: a.score, type: a.type });
  }
  return { readings: readingPoints(readings), forecast: fc, bandLower: lower, bandWidth: width, anomalies: byType };
}

/** Live updates: the newer readings appended after the last one held, the window kept to `from`. */
export function mergeReadings(held: ReadingSeries, fresh: ReadingSeries, from: number): ReadingSeries {
  const last = held.timestamps.length ? (held.timestamps[held.timestamps.length - 1] ?? -Infinity) : -Infinity;
  const timestamps: number[] = [];
  const values: number[] = [];
  const push = (t: number | undefined, v: number | undefined): void => {
    if (t === undefined || v === undefined || t < from) return;
    timestamps.push(t);
    values.push(v);
  };
  held.timestamps.forEach((t, i) => push(t, held.values[i]));
  fresh.timestamps.forEach((t, i) => {
    if (t > last) push(t, fresh.values[i]);
  });
  return { timestamps, values };
}

export type RangeKey = "24h" | "7d" | "30d" | "365d";
const RANGE_MS: Record<RangeKey, number> = {
  "24h": 86_400_000,
  "7d": 7 * 86_400_000,
  "30d": 30 * 86_400_000,
  "365d": 365 * 86_400_000,
};

/** The range [from, to) ending with the newest reading (or now when there is none): 24 h of 15-minute
 * readings is 96 of them. */
export function rangeBounds(key: RangeKey, end: number): { from: number; to: number } {
  return { from: end - RANGE_MS[key] + 1, to: end + 1 };
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);

export function formatNumber(x: number): string {
  if (!finite(x)) return "–";
  const a = Math.abs(x);
  return a !== 0 && (a >= 1e6 || a < 1e-3) ? x.toExponential(3) : String(Math.round(x * 1000) / 1000);
}

/** The hover text of an anomaly marker (HTML: ECharts renders tooltips as HTML, so text is escaped). */
export function anomalyTooltip(
  m: AnomalyMarker,
  labels: { value: string; expected: string; score: string },
  timeText: string,
): string {
  return [
    `<b>${escapeHtml(m.type)}</b> · ${escapeHtml(timeText)}`,
    `${escapeHtml(labels.value)}: ${formatNumber(m.value[1])}`,
    `${escapeHtml(labels.expected)}: ${formatNumber(m.expected)}`,
    `${escapeHtml(labels.score)}: ${formatNumber(m.score)}`,
    escapeHtml(m.reason),
  ].join("<br/>");
}

export const ANOMALY_COLORS: Record<string, string> = {
  spike: "#d62728",
  dip: "#1f77b4",
  sustained_high: "#ff7f0e",
  sustained_low: "#17becf",
  pattern_shift: "#9467bd",
  flatline: "#7f7f7f",
};
export const ANOMALY_SYMBOLS: Record<string, string> = {
  spike: "triangle",
  dip: "path://M0,0 L10,0 L5,10 Z",
  sustained_high: "rect",
  sustained_low: "roundRect",
  pattern_shift: "diamond",
  flatline: "circle",
};
