import { describe, expect, it } from "vitest";
import { parseRoute, pathOf } from "./route";

describe("routes", () => {
  it("round-trips asset ids with slashes and spaces", () => {
    for (const assetId of ["site-1/meter-7", "a b", "x%y", "meter.7&x=1"]) {
      const r = { page: "asset" as const, assetId };
      const url = new URL(pathOf(r), "http://h");
      expect(url.pathname).toBe("/admin/asset");
      expect(parseRoute(url.pathname, url.search)).toEqual(r);
    }
  });
  it("unknown or broken paths go to the fleet", () => {
    expect(parseRoute("/admin/nope")).toEqual({ page: "fleet" });
    expect(parseRoute("/admin/asset", "")).toEqual({ page: "fleet" });
    expect(parseRoute("/admin/asset", "?id=m&range=365d")).toEqual({ page: "asset", assetId: "m", range: "365d" });
    expect(parseRoute("/admin/asset", "?id=m&range=2y")).toEqual({ page: "asset", assetId: "m" });
    expect(parseRoute("/admin/")).toEqual({ page: "fleet" });
    expect(parseRoute("/admin/alerts")).toEqual({ page: "alerts" });
  });
});
