import { describe, expect, it } from "vitest";
import { metricsText } from "./ModelsPanel";

describe("metricsText", () => {
  it("shows the hold-out metrics first, flattened, without counts", () => {
    const text = metricsText({
      holdout: { mae: 46.19061, mase: 0.85486, forecasts: 71 },
      training: { mae: 45.5 },
      holdout_rows: 300,
      champion_holdout: null,
    });
    expect(text).toBe("mae 46.191 · mase 0.855 · holdout_rows 300 · training.mae 45.5");
  });
  it("is empty for no numbers", () => {
    expect(metricsText({ note: "x", nan: Number.NaN })).toBe("");
  });
});
