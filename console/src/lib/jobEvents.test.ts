import { describe, expect, it } from "vitest";
import { MAX_LOG_LINES, applyJobEvent, initialJob, shownState } from "./jobEvents";

describe("applyJobEvent", () => {
  it("follows status, stage, progress and log to the end", () => {
    let v = applyJobEvent(initialJob, "status", JSON.stringify({ kind: "status", status: "running", stage: "TRAINING", message: "fitting" }));
    v = applyJobEvent(v, "progress", JSON.stringify({ kind: "progress", progress: 0.425, message: "fold 2" }));
    v = applyJobEvent(v, "log", JSON.stringify({ kind: "log", line: "epoch 1" }));
    expect(v).toEqual({ status: "running", stage: "TRAINING", progress: 0.425, message: "fold 2", log: ["epoch 1"], ended: false });
    expect(shownState(v)).toBe("TRAINING");
    v = applyJobEvent(v, "status", JSON.stringify({ status: "succeeded", stage: "TRAINED", message: "" }));
    expect(v.progress).toBe(1);
    expect(v.ended).toBe(true);
    expect(shownState(v)).toBe("TRAINED");
  });
  it("shows the generic state of a job without a stage", () => {
    const v = applyJobEvent(initialJob, "status", JSON.stringify({ status: "running" }));
    expect(shownState(v)).toBe("running");
  });
  it("never goes backwards, clamps, and ignores junk", () => {
    let v = applyJobEvent(initialJob, "progress", JSON.stringify({ progress: 0.6 }));
    v = applyJobEvent(v, "progress", JSON.stringify({ progress: 0.3 }));
    expect(v.progress).toBe(0.6);
    v = applyJobEvent(v, "progress", JSON.stringify({ progress: 5 }));
    expect(v.progress).toBe(1);
    expect(applyJobEvent(v, "progress", "not json")).toBe(v);
    expect(applyJobEvent(v, "progress", "null")).toBe(v);
    expect(applyJobEvent(v, "progress", JSON.stringify({ progress: "lots" }))).toBe(v);
    expect(applyJobEvent(v, "other", "{}")).toBe(v);
  });
  it("an end event with a failed job ends it without 100 %", () => {
    const v = applyJobEvent({ ...initialJob, progress: 0.2 }, "end", JSON.stringify({ status: "failed", stage: "FAILED", progress: 0.2 }));
    expect(v).toMatchObject({ status: "failed", stage: "FAILED", progress: 0.2, ended: true });
  });
  it("keeps the last lines only", () => {
    let v = initialJob;
    for (let i = 0; i < MAX_LOG_LINES + 5; i++) v = applyJobEvent(v, "log", JSON.stringify({ line: String(i) }));
    expect(v.log).toHaveLength(MAX_LOG_LINES);
    expect(v.log[0]).toBe("5");
  });
});
