import { describe, expect, it } from "vitest";
import { anomalyStreamUrl, parseAnomalyEvent } from "../api/live";
import { RETRY_MAX_MS, retryDelay } from "./liveStream";

describe("retryDelay", () => {
  it("doubles from one second and stops at the cap", () => {
    expect([0, 1, 2, 3].map(retryDelay)).toEqual([1000, 2000, 4000, 8000]);
    expect(retryDelay(5)).toBe(RETRY_MAX_MS);
    expect(retryDelay(10_000)).toBe(RETRY_MAX_MS);
    expect(retryDelay(-3)).toBe(1000);
  });
});

describe("anomalyStreamUrl", () => {
  it("keeps the slashes of an asset id and escapes the rest", () => {
    expect(anomalyStreamUrl("site-1/meter 2", null)).toBe("/api/v1/assets/site-1/meter%202/anomalies/stream");
    expect(anomalyStreamUrl("m", "abc")).toBe("/api/v1/assets/m/anomalies/stream?last_event_id=abc");
  });
});

describe("parseAnomalyEvent", () => {
  const a = { event_id: "e1", asset_id: "m1", timestamp: "2026-01-01T00:00:00Z", value: 5, expected: 1, reason: "r" };
  it("takes an anomaly of this asset", () => {
    expect(parseAnomalyEvent(JSON.stringify(a), "m1")?.event_id).toBe("e1");
  });
  it("refuses another asset's, malformed JSON and wrong shapes", () => {
    expect(parseAnomalyEvent(JSON.stringify(a), "m2")).toBeNull();
    expect(parseAnomalyEvent("{not json", "m1")).toBeNull();
    expect(parseAnomalyEvent("null", "m1")).toBeNull();
    expect(parseAnomalyEvent(JSON.stringify({ ...a, value: "5" }), "m1")).toBeNull();
  });
});
