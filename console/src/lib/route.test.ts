import { describe, expect, it } from "vitest";
import { parseRoute, pathOf } from "./route";

describe("routes", () => {
  it("round-trips asset ids with slashes and spaces", () => {
    for (const assetId of ["site-1/meter-7", "a b", "x%y"]) {
      const r = { page: "asset" as const, assetId };
      expect(parseRoute(pathOf(r))).toEqual(r);
    }
  });
  it("unknown or broken paths go to the fleet", () => {
    expect(parseRoute("/admin/nope")).toEqual({ page: "fleet" });
    expect(parseRoute("/admin/assets/%E0%A4%A")).toEqual({ page: "fleet" });
    expect(parseRoute("/admin/")).toEqual({ page: "fleet" });
    expect(parseRoute("/admin/alerts")).toEqual({ page: "alerts" });
  });
});
