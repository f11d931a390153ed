import { describe, expect, it } from "vitest";
import { anomalyTooltip, mergeReadings, rangeBounds, readingPoints, shapeAssetChart, type AnomalyRow } from "./chart";

const an = (id: string, ts: string, type: string, value = 5): AnomalyRow => ({
  event_id: id,
  timestamp: ts,
  value,
  expected: 2,
  score: 0.999,
  type,
  reason: "Exceeds predicted value by 150%",
});

describe("shapeAssetChart", () => {
  it("pairs readings, drops non-finite values and mismatched tails", () => {
    const pts = readingPoints({ timestamps: [1, 2, 3, 4], values: [1.5, Number.NaN, 3] });
    expect(pts).toEqual([
      [1, 1.5],
      [3, 3],
    ]);
  });

  it("stacks the band as base + non-negative width, even when lower > upper", () => {
    const d = shapeAssetChart({ timestamps: [], values: [] }, [
      { timestamp: "2024-01-01T00:00:00Z", predicted_value: 10, lower: 8, upper: 13 },
      { timestamp: "2024-01-01T01:00:00Z", predicted_value: 10, lower: 12, upper: 9 },
    ], []);
    const t0 = Date.parse("2024-01-01T00:00:00Z");
    expect(d.forecast).toEqual([
      [t0, 10],
      [t0 + 3_600_000, 10],
    ]);
    expect(d.bandLower).toEqual([
      [t0, 8],
      [t0 + 3_600_000, 9],
    ]);
    expect(d.bandWidth).toEqual([
      [t0, 5],
      [t0 + 3_600_000, 3],
    ]);
  });

  it("groups anomalies by type in time order, one marker per event", () => {
    const d = shapeAssetChart({ timestamps: [], values: [] }, null, [
      an("b", "2024-01-01T02:00:00Z", "spike"),
      an("a", "2024-01-01T01:00:00Z", "spike"),
      an("a", "2024-01-01T01:00:00Z", "spike"),
      an("c", "2024-01-01T03:00:00Z", "dip", 0.1),
      an("d", "not a time", "dip"),
    ]);
    expect(Object.keys(d.anomalies).sort()).toEqual(["dip", "spike"]);
    expect(d.anomalies["spike"]?.map((m) => m.value[0])).toEqual([
      Date.parse("2024-01-01T01:00:00Z"),
      Date.parse("2024-01-01T02:00:00Z"),
    ]);
    expect(d.anomalies["dip"]).toHaveLength(1);
    expect(d.forecast).toEqual([]);
  });
});

describe("mergeReadings", () => {
  it("appends only newer readings and drops those before the window", () => {
    const held = { timestamps: [1, 2, 3], values: [10, 20, 30] };
    const fresh = { timestamps: [2, 3, 4, 5], values: [99, 99, 40, 50] };
    expect(mergeReadings(held, fresh, 2)).toEqual({ timestamps: [2, 3, 4, 5], values: [20, 30, 40, 50] });
  });
  it("starts from nothing", () => {
    expect(mergeReadings({ timestamps: [], values: [] }, { timestamps: [7], values: [1] }, 0)).toEqual({
      timestamps: [7],
      values: [1],
    });
  });
});

describe("rangeBounds", () => {
  it("ends just after the given end", () => {
    const end = 1_000_000_000;
    const { from, to } = rangeBounds("24h", end);
    const quarterHours = Array.from({ length: 200 }, (_, i) => end - i * 900_000).filter((t) => t >= from && t < to);
    expect(quarterHours).toHaveLength(96);
  });
});

describe("anomalyTooltip", () => {
  it("shows expected value and reason, escaping HTML from the API", () => {
    const html = anomalyTooltip(
      { value: [0, 5.25], expected: 2, reason: "<img src=x onerror=alert(1)>", score: 0.9991, type: "spike" },
      { value: "value", expected: "expected", score: "score" },
      "01-01 00:00",
    );
    expect(html).toContain("expected: 2");
    expect(html).toContain("value: 5.25");
    expect(html).not.toContain("<img");
    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;");
  });
});
