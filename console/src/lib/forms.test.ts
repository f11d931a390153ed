import { describe, expect, it } from "vitest";
import { chunks, fieldErrorsFromApi, parseDecimal, parseReadingsCsv, validateAlertForm, validateKeyForm, validateTrainForm } from "./forms";

const good = { email: " ops@example.com ", threshold: "0.99", frequency: "hourly", anomaly_types: ["spike", "dip", "spike"], enabled: true };

describe("validateAlertForm (the API's rules)", () => {
  it("accepts a valid form: trimmed e-mail, unique sorted types", () => {
    expect(validateAlertForm(good)).toEqual({
      ok: true,
      value: { email: "ops@example.com", threshold: 0.99, frequency: "hourly", anomaly_types: ["dip", "spike"], enabled: true },
    });
    expect(validateAlertForm({ ...good, email: "root@localhost" }).ok).toBe(true);
  });
  it.each(["", "ops", "ops@", "@example.com", "a b@example.com", "ops@example", "ops@example.c"])(
    "refuses the e-mail %j",
    (email) => {
      const r = validateAlertForm({ ...good, email });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(Object.keys(r.errors)).toEqual(["email"]);
    },
  );
  it.each(["", "-0.1", "1.01", "abc", "NaN", "Infinity", "0x1", "1e"])("refuses the threshold %j", (threshold) => {
    const r = validateAlertForm({ ...good, threshold });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors["threshold"]).toBe("errThreshold");
  });
  it("accepts the threshold bounds and refuses an unknown frequency", () => {
    expect(validateAlertForm({ ...good, threshold: "0" }).ok).toBe(true);
    expect(validateAlertForm({ ...good, threshold: "1" }).ok).toBe(true);
    expect(validateAlertForm({ ...good, frequency: "weekly" }).ok).toBe(false);
  });
  it("drops unknown anomaly types", () => {
    const r = validateAlertForm({ ...good, anomaly_types: ["bogus", "flatline"] });
    expect(r.ok && r.value.anomaly_types).toEqual(["flatline"]);
  });
});

describe("parseDecimal", () => {
  it("reads what a person types, nothing else", () => {
    expect(parseDecimal(" 0.5 ")).toBe(0.5);
    expect(parseDecimal(".5")).toBe(0.5);
    expect(parseDecimal("1e-3")).toBe(0.001);
    for (const s of ["", " ", "1,5", "0x10", "1e400", "--1"]) expect(parseDecimal(s)).toBeNull();
  });
});

describe("fieldErrorsFromApi", () => {
  it("maps body fields to their first message in the API's words", () => {
    expect(
      fieldErrorsFromApi([
        { loc: ["body", "email"], msg: "Value error, not an e-mail address" },
        { loc: ["body", "email"], msg: "second" },
        { loc: ["query", "limit"], msg: "x" },
        { loc: ["body", "params", "horizon"], msg: "too big" },
      ]),
    ).toEqual({ email: "Value error, not an e-mail address", params: "too big" });
  });
});

describe("validateTrainForm", () => {
  const f = { model_type: "lightgbm", horizon: "24", source: "history" as const, data_url: "", dataset_id: "" };
  it("builds the training-job body", () => {
    expect(validateTrainForm("m-1", f, 0)).toEqual({
      ok: true,
      value: { asset_id: "m-1", model_type: "lightgbm", params: { horizon: 24 }, data_url: "history" },
    });
  });
  it("needs an integer horizon in 1..1000, a file when uploading and a URL when chosen", () => {
    for (const horizon of ["0", "1001", "2.5", "x"]) expect(validateTrainForm("m", { ...f, horizon }, 0).ok).toBe(false);
    expect(validateTrainForm("m", { ...f, source: "upload" }, 0).ok).toBe(false);
    expect(validateTrainForm("m", { ...f, source: "upload" }, 10).ok).toBe(true);
    expect(validateTrainForm("m", { ...f, source: "url", data_url: "ftp://x" }, 0).ok).toBe(false);
    const r = validateTrainForm("m", { ...f, source: "url", data_url: "https://example.com/a.csv" }, 0);
    expect(r.ok && r.value.data_url).toBe("https://example.com/a.csv");
  });
  it("trains on a chosen dataset as data_url dataset:<id>, and needs one chosen", () => {
    const id = "6F1C2A8E-93D4-4B0E-9C55-0D2F5E7A1B3C";
    const r = validateTrainForm("m", { ...f, source: "dataset", dataset_id: id }, 0);
    expect(r).toEqual({
      ok: true,
      value: { asset_id: "m", model_type: "lightgbm", params: { horizon: 24 }, data_url: `dataset:${id.toLowerCase()}` },
    });
    for (const dataset_id of ["", "  ", "42", id.replace(/-/g, ""), `${id}x`, `{${id}}`]) {
      expect(validateTrainForm("m", { ...f, source: "dataset", dataset_id }, 0)).toEqual({ ok: false, errors: { dataset_id: "errDataset" } });
    }
    // a dataset id left over from an earlier choice is not sent with another source
    const h = validateTrainForm("m", { ...f, dataset_id: id }, 0);
    expect(h.ok && h.value.data_url).toBe("history");
  });
});

describe("parseReadingsCsv", () => {
  it("reads the named columns, skips empty values, makes times UTC", () => {
    const r = parseReadingsCsv("datetime,x,value\n2024-01-01 00:00:00,9,1.5\n2024-01-01 01:00:00,9,\n2024-01-01T02:00:00+01:00,9,2\n");
    expect(r).toEqual({
      ok: true,
      value: {
        rows: [
          { timestamp: "2024-01-01T00:00:00.000Z", value: 1.5 },
          { timestamp: "2024-01-01T01:00:00.000Z", value: 2 },
        ],
      },
    });
  });
  it("names the bad line", () => {
    expect(parseReadingsCsv("timestamp,value\n2024-01-01,1\n2024-01-02,abc")).toEqual({
      ok: false,
      error: "line 3: value 'abc' is not a number",
    });
    expect(parseReadingsCsv("timestamp,value\nyesterday,1")).toEqual({ ok: false, error: "line 2: 'yesterday' is not a time" });
    expect(parseReadingsCsv("timestamp,value\n").ok).toBe(false);
    expect(parseReadingsCsv("t,v\n1,2\n3,4", 1).ok).toBe(false);
  });
  it("chunks batches", () => {
    expect(chunks([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
  });
});

describe("validateKeyForm", () => {
  it("needs a name and a known scope", () => {
    expect(validateKeyForm(" ci ", ["read", "nope"])).toEqual({ ok: true, value: { name: "ci", scopes: ["read"] } });
    expect(validateKeyForm("", ["read"]).ok).toBe(false);
    expect(validateKeyForm("x", ["nope"]).ok).toBe(false);
  });
});
