import { describe, expect, it } from "vitest";
import {
  apiFieldErrors,
  DEFAULT_PERIOD_TEXT,
  dailySeries,
  formatHours,
  hourCurve,
  lastWindowStart,
  seriesPoints,
  latestByType,
  parseHours,
  patternSeries,
  periodPie,
  pollDelayMs,
  orderRecommendations,
  parseScale,
  validatePatch,
  validatePatterns,
  validateUploadOptions,
  validatePeriods,
  validatePreprocess,
  validatePrices,
  type LoadPattern,
} from "./datasets";
import { parseRoute, pathOf } from "./route";

describe("hour sets", () => {
  it("parses ranges, single hours and a range wrapping past midnight", () => {
    expect(parseHours("8-10, 18-20")).toEqual([8, 9, 10, 18, 19, 20]);
    expect(parseHours("23-2")).toEqual([23, 0, 1, 2]);
    expect(parseHours("7，11 12")).toEqual([7, 11, 12]);
    expect(parseHours("  ")).toEqual([]);
  });

  it("names the token it cannot read, hours beyond 23 included", () => {
    expect(parseHours("8-10, x")).toEqual({ token: "x" });
    expect(parseHours("24")).toEqual({ token: "24" });
    expect(parseHours("3-")).toEqual({ token: "3-" });
  });

  it("formats hours back into ranges", () => {
    expect(formatHours([23, 0, 1, 2, 5, 7, 8])).toBe("0-2, 5, 7-8, 23");
    expect(formatHours([])).toBe("");
  });

  it("accepts the API's default split", () => {
    const v = validatePeriods(DEFAULT_PERIOD_TEXT);
    expect(v.ok).toBe(true);
    if (v.ok) {
      expect(v.value.peak_hours).toEqual([8, 9, 10, 18, 19, 20]);
      expect(v.value.valley_hours).toEqual([0, 1, 2, 3, 4, 5, 6, 23]);
      expect([...v.value.peak_hours, ...v.value.valley_hours, ...v.value.flat_hours].sort((a, b) => a - b)).toEqual(
        Array.from({ length: 24 }, (_, h) => h),
      );
    }
  });

  it("puts each conflict on the field the API names", () => {
    const overlap = validatePeriods({ peak_hours: "8-10", valley_hours: "0-8", flat_hours: "11-23" });
    expect(overlap).toEqual({ ok: false, errors: { valley_hours: { kind: "overlap", hours: [8], other: "peak" } } });
    const flat = validatePeriods({ peak_hours: "8-10", valley_hours: "0-7", flat_hours: "10-23" });
    expect(flat).toEqual({ ok: false, errors: { flat_hours: { kind: "overlap", hours: [10], other: "peak_or_valley" } } });
    const gap = validatePeriods({ peak_hours: "8-10", valley_hours: "0-7", flat_hours: "11-22" });
    expect(gap).toEqual({ ok: false, errors: { flat_hours: { kind: "uncovered", hours: [23] } } });
    const twice = validatePeriods({ peak_hours: "8-10, 9", valley_hours: "0-7", flat_hours: "11-23" });
    expect(twice).toEqual({ ok: false, errors: { peak_hours: { kind: "twice", hours: [9] } } });
    const syntax = validatePeriods({ peak_hours: "8-10", valley_hours: "0-7", flat_hours: "11-25" });
    expect(syntax).toEqual({ ok: false, errors: { flat_hours: { kind: "syntax", token: "11-25" } } });
  });

  it("accepts every split of the 24 hours into three sets and refuses any hour left out", () => {
    // 300 pseudo-random splits (a fixed LCG: the same cases on every run)
    let seed = 12345;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 300; i++) {
      const sets: number[][] = [[], [], []];
      for (let h = 0; h < 24; h++) (sets[Math.floor(rnd() * 3)] as number[]).push(h);
      const texts = { peak_hours: formatHours(sets[0] ?? []), valley_hours: formatHours(sets[1] ?? []), flat_hours: formatHours(sets[2] ?? []) };
      expect(validatePeriods(texts).ok).toBe(true);
      const drop = Math.floor(rnd() * 24);
      const fewer = sets.map((s) => s.filter((h) => h !== drop));
      const v = validatePeriods({ peak_hours: formatHours(fewer[0] ?? []), valley_hours: formatHours(fewer[1] ?? []), flat_hours: formatHours(fewer[2] ?? []) });
      expect(v).toEqual({ ok: false, errors: { flat_hours: { kind: "uncovered", hours: [drop] } } });
    }
  });
});

describe("prices", () => {
  it("is none when all three are empty", () => {
    expect(validatePrices({ peak: "", valley: " ", flat: "", currency: "" })).toEqual({ ok: true, value: null });
  });
  it("takes finite prices 0..1e6 and a three-letter code", () => {
    expect(validatePrices({ peak: "1.2", valley: "0.3", flat: "0", currency: "EUR" })).toEqual({
      ok: true,
      value: { peak: 1.2, valley: 0.3, flat: 0, currency: "EUR" },
    });
    expect(validatePrices({ peak: "1", valley: "-1", flat: "1e7", currency: "eur" })).toEqual({
      ok: false,
      errors: { valley: "priceRange", flat: "priceRange", currency: "currencyCode" },
    });
    expect(validatePrices({ peak: "Infinity", valley: "1", flat: "", currency: "" })).toEqual({
      ok: false,
      errors: { peak: "priceRange", flat: "priceRange" },
    });
  });
});

describe("preprocess form", () => {
  const form = { missing: "interpolate", outliers: "clip", outlier_k: "3", resample: "", timezone: "" };
  it("sends the API's defaults as they are", () => {
    expect(validatePreprocess(form, 3600)).toEqual({
      ok: true,
      value: { missing: "interpolate", outliers: "clip", outlier_k: 3, resample: null, timezone: null },
    });
  });
  it("refuses k outside 1..20, a finer interval and a zone that is no IANA name", () => {
    expect(validatePreprocess({ ...form, outlier_k: "0.5", resample: "15min", timezone: "Paris time" }, 3600)).toEqual({
      ok: false,
      errors: { outlier_k: "kRange", resample: "coarserOnly", timezone: "zoneName" },
    });
    expect(validatePreprocess({ ...form, outlier_k: "", resample: "1d", timezone: "Europe/Paris" }, 3600)).toEqual({
      ok: false,
      errors: { outlier_k: "kRange" },
    });
    expect(validatePreprocess({ ...form, resample: "1h", timezone: "America/Argentina/Buenos_Aires" }, 3600).ok).toBe(true);
  });
});

describe("load patterns form", () => {
  it("takes k 2..5 for k-means and ignores k for rules", () => {
    expect(validatePatterns("kmeans", "4")).toEqual({ ok: true, value: { method: "kmeans", k: 4 } });
    expect(validatePatterns("kmeans", "6")).toEqual({ ok: false });
    expect(validatePatterns("kmeans", "2.5")).toEqual({ ok: false });
    expect(validatePatterns("rules", "99")).toEqual({ ok: true, value: { method: "rules", k: 3 } });
  });
});

describe("chart shaping", () => {
  it("lays the load curve on 24 hours", () => {
    const c = hourCurve([
      { hour: 0, kwh: 1 },
      { hour: 23, kwh: 2 },
      { hour: 24, kwh: 9 },
      { hour: 5, kwh: Number.NaN },
    ]);
    expect(c).toHaveLength(24);
    expect(c[0]).toBe(1);
    expect(c[23]).toBe(2);
    expect(c[5]).toBeNull();
  });

  it("orders daily totals by date", () => {
    expect(dailySeries([{ date: "2024-01-02", kwh: 2 }, { date: "2024-01-01", kwh: 1 }])).toEqual([
      ["2024-01-01", 1],
      ["2024-01-02", 2],
    ]);
  });

  it("names pie slices in the UI language and leaves empty periods out", () => {
    const periods = [
      { period: "peak", display_name: { "zh-CN": "峰时", "en-US": "Peak" }, hours: [8], kwh: 5, ratio: 0.5 },
      { period: "flat", display_name: { "zh-CN": "平时", "en-US": "Flat" }, hours: [9], kwh: 0, ratio: 0 },
    ];
    expect(periodPie(periods, "zh-CN")).toEqual([{ name: "峰时", value: 5, period: "peak" }]);
    expect(periodPie(periods, "en-US")[0]?.name).toBe("Peak");
  });

  it("keeps two clusters of one label apart and their 24-hour centroids", () => {
    const p = (id: number, days: number): LoadPattern => ({
      id,
      label: "balanced",
      display_name: { "zh-CN": "均衡用电型", "en-US": "Balanced" },
      description: {},
      confidence: 0.5,
      days,
      share: 0.5,
      centroid: Array.from({ length: 24 }, (_, h) => h / 10),
      profile: [],
      daily_kwh: 27.6,
    });
    const s = patternSeries([p(0, 466), p(1, 451)], "zh-CN", "天");
    expect(s.map((x) => x.name)).toEqual(["#0 均衡用电型 · 466 天", "#1 均衡用电型 · 451 天"]);
    expect(s[0]?.data).toHaveLength(24);
    expect(s[0]?.data[23]).toBeCloseTo(2.3);
  });

  it("puts warnings first and keeps the API's order otherwise", () => {
    const recs = [
      { id: "a", severity: "info" },
      { id: "b", severity: "warning" },
      { id: "c", severity: "info" },
      { id: "d", severity: "warning" },
    ];
    expect(orderRecommendations(recs).map((r) => r.id)).toEqual(["b", "d", "a", "c"]);
    expect(orderRecommendations(undefined)).toEqual([]);
  });

  it("polls quickly first, then every 2 s", () => {
    expect(pollDelayMs(0)).toBe(250);
    expect(pollDelayMs(2)).toBe(1000);
    expect(pollDelayMs(10)).toBe(2000);
  });
});

describe("API field errors", () => {
  it("names the innermost field of each detail", () => {
    expect(
      apiFieldErrors([
        { loc: ["body", "periods", "valley_hours"], msg: "hours [8] are both peak and valley" },
        { loc: ["body", "periods", "valley_hours"], msg: "second" },
        { loc: ["body", "prices", "peak", 0], msg: "finite" },
        { loc: ["body"], msg: "whole body" },
      ]),
    ).toEqual({ valley_hours: "hours [8] are both peak and valley", peak: "finite" });
  });
});

describe("dataset route", () => {
  it("round-trips a dataset id and falls back to the list without one", () => {
    const r = { page: "dataset" as const, datasetId: "0b5e1c9e-2f7a-4c1e-9d7e-3a1f2b4c5d6e" };
    const url = new URL(pathOf(r), "http://h");
    expect(url.pathname).toBe("/admin/dataset");
    expect(parseRoute(url.pathname, url.search)).toEqual(r);
    expect(parseRoute("/admin/dataset", "")).toEqual({ page: "datasets" });
  });
});

describe("upload options", () => {
  it("reads a scale as a number or a fraction", () => {
    expect(parseScale("1/60")).toBeCloseTo(1 / 60);
    expect(parseScale("0.001")).toBe(0.001);
    expect(parseScale("1/0")).toBeNaN();
    expect(parseScale("x")).toBeNaN();
  });
  it("sends only the fields given, refuses what the API refuses", () => {
    const none = { timestamp_column: "", value_column: "", sheet: "" };
    expect(validateUploadOptions({ timezone: "", unit: "", scale: "", ...none })).toEqual({ ok: true, fields: [] });
    expect(validateUploadOptions({ timezone: "", unit: "", scale: "", timestamp_column: " datetime ", value_column: "", sheet: "Sheet2" })).toEqual({
      ok: true,
      fields: [
        ["timestamp_column", "datetime"],
        ["sheet", "Sheet2"],
      ],
    });
    expect(validateUploadOptions({ timezone: "", unit: "", scale: "", ...none, value_column: "x".repeat(201) })).toEqual({
      ok: false,
      errors: { value_column: "nameLength" },
    });
    expect(validateUploadOptions({ timezone: "Europe/Paris", unit: "kWh", scale: "1/60", ...none })).toEqual({
      ok: true,
      fields: [
        ["timezone", "Europe/Paris"],
        ["unit", "kWh"],
        ["scale", String(1 / 60)],
      ],
    });
    expect(validateUploadOptions({ timezone: "Paris", unit: "J", scale: "-1", ...none })).toEqual({
      ok: false,
      errors: { timezone: "zoneName", unit: "badChoice", scale: "scaleRange" },
    });
    expect(validateUploadOptions({ timezone: "", unit: "", scale: "2e9", ...none })).toEqual({ ok: false, errors: { scale: "scaleRange" } });
  });
});

describe("any text in the hour fields", () => {
  it("never throws and only ever yields hours 0-23 or the token it could not read", () => {
    const alphabet = "0123456789-,， x–~";
    let seed = 99;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 2000; i++) {
      const text = Array.from({ length: Math.floor(rnd() * 16) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join("");
      const r = parseHours(text);
      if (Array.isArray(r)) for (const h of r) expect(Number.isInteger(h) && h >= 0 && h <= 23).toBe(true);
      else expect(text).toContain(r.token);
      expect(() => validatePeriods({ peak_hours: text, valley_hours: "0-7", flat_hours: "" })).not.toThrow();
    }
  });
});

describe("latest job of each type", () => {
  it("keeps the newest per type whatever the order", () => {
    const j = (type: string, created_at: string, id: string) => ({ type, created_at, id });
    const latest = latestByType([
      j("statistics", "2026-12-07T10:00:00Z", "a"),
      j("report", "2026-12-07T09:00:00Z", "b"),
      j("statistics", "2026-12-07T11:00:00Z", "c"),
      j("report", "2026-12-07T08:00:00Z", "d"),
    ]);
    expect(latest["statistics"]?.id).toBe("c");
    expect(latest["report"]?.id).toBe("b");
    expect(latest["anomalies"]).toBeUndefined();
  });
});

describe("dataset patch", () => {
  const current = { name: "house", timezone: "UTC" };
  it("sends only what changed, nothing when nothing did", () => {
    expect(validatePatch({ name: " house ", timezone: "UTC" }, current)).toEqual({ ok: true, body: null });
    expect(validatePatch({ name: "home", timezone: "UTC" }, current)).toEqual({ ok: true, body: { name: "home" } });
    expect(validatePatch({ name: "house", timezone: "Europe/Paris" }, current)).toEqual({ ok: true, body: { timezone: "Europe/Paris" } });
  });
  it("refuses an empty or long name and a zone that is no IANA name", () => {
    expect(validatePatch({ name: "  ", timezone: "Paris" }, current)).toEqual({ ok: false, errors: { name: "nameLength", timezone: "zoneName" } });
    expect(validatePatch({ name: "x".repeat(201), timezone: "UTC" }, current)).toEqual({ ok: false, errors: { name: "nameLength" } });
  });
});

describe("readings series", () => {
  it("starts the window n-1 intervals before the last reading", () => {
    expect(lastWindowStart("2007-02-14T15:00:00Z", 3600, 3)).toBe("2007-02-14T13:00:00.000Z");
    expect(lastWindowStart("2007-02-14T15:00:00+01:00", 900, 1)).toBe("2007-02-14T14:00:00.000Z");
  });
  it("reads compact pairs and full points, oldest first, gaps kept as null", () => {
    expect(
      seriesPoints([
        ["2007-01-01T01:00:00+01:00", 2],
        ["2007-01-01T00:30:00Z", null],
        ["not a time", 3],
      ]),
    ).toEqual([
      [Date.parse("2007-01-01T00:00:00Z"), 2],
      [Date.parse("2007-01-01T00:30:00Z"), null],
    ]);
    expect(seriesPoints([{ timestamp: "2007-01-01T00:00:00Z", value: 1.5 }, { timestamp: "2007-01-01T01:00:00Z" }])).toEqual([
      [Date.parse("2007-01-01T00:00:00Z"), 1.5],
      [Date.parse("2007-01-01T01:00:00Z"), null],
    ]);
  });
});

describe("readings series from anything", () => {
  it("drops what is not a reading instead of throwing", () => {
    expect(seriesPoints([null, 3, "x", [], [5, 1], { value: 2 }, ["2007-01-01T00:00:00Z", "7"]])).toEqual([[Date.parse("2007-01-01T00:00:00Z"), null]]);
  });
});
