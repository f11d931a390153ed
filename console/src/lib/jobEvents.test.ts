import { describe, expect, it } from "vitest";
import { MAX_LOG_LINES, applyJobEvent, initialJob } from "./jobEvents";

describe("applyJobEvent", () => {
  it("follows status, progress and log to the end", () => {
    let v = applyJobEvent(initialJob, "status", JSON.stringify({ kind: "status", status: "TRAINING", message: "fitting" }));
    v = applyJobEvent(v, "progress", JSON.stringify({ kind: "progress", progress: "42.5", message: "fold 2" }));
    v = applyJobEvent(v, "log", JSON.stringify({ kind: "log", line: "epoch 1" }));
    expect(v).toEqual({ status: "TRAINING", progress: 42.5, message: "fold 2", log: ["epoch 1"], ended: false });
    v = applyJobEvent(v, "status", JSON.stringify({ status: "TRAINED", message: "" }));
    expect(v.progress).toBe(100);
    expect(v.ended).toBe(true);
  });
  it("never goes backwards, clamps, and ignores junk", () => {
    let v = applyJobEvent(initialJob, "progress", JSON.stringify({ progress: "60" }));
    v = applyJobEvent(v, "progress", JSON.stringify({ progress: "30" }));
    expect(v.progress).toBe(60);
    v = applyJobEvent(v, "progress", JSON.stringify({ progress: "500" }));
    expect(v.progress).toBe(100);
    expect(applyJobEvent(v, "progress", "not json")).toBe(v);
    expect(applyJobEvent(v, "progress", "null")).toBe(v);
    expect(applyJobEvent(v, "other", "{}")).toBe(v);
  });
  it("an end event with a failed job ends it without 100 %", () => {
    const v = applyJobEvent({ ...initialJob, progress: 20 }, "end", JSON.stringify({ status: "FAILED", progress: 20 }));
    expect(v).toMatchObject({ status: "FAILED", progress: 20, ended: true });
  });
  it("keeps the last lines only", () => {
    let v = initialJob;
    for (let i = 0; i < MAX_LOG_LINES + 5; i++) v = applyJobEvent(v, "log", JSON.stringify({ line: String(i) }));
    expect(v.log).toHaveLength(MAX_LOG_LINES);
    expect(v.log[0]).toBe("5");
  });
});
