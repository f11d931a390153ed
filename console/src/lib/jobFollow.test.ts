import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { initialJob } from "./jobEvents";
import { POLL_MS, applyJobSnapshot, followJob, parseJobSnapshot, streamUrl, type FollowDeps, type FollowState, type StreamLike } from "./jobFollow";

class FakeStream implements StreamLike {
  onopen: ((ev: Event) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  closed = false;
  listeners = new Map<string, ((ev: MessageEvent<string>) => void)[]>();
  constructor(public url: string) {}
  addEventListener(type: string, listener: (ev: MessageEvent<string>) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  close(): void {
    this.closed = true;
  }
  open(): void {
    this.onopen?.(new Event("open"));
  }
  fail(): void {
    this.onerror?.(new Event("error"));
  }
  emit(kind: string, data: unknown, id = ""): void {
    const ev = new MessageEvent<string>(kind, { data: JSON.stringify(data), lastEventId: id });
    for (const l of this.listeners.get(kind) ?? []) l(ev);
  }
}

function harness(answers: (() => Promise<unknown>)[] = []) {
  const streams: FakeStream[] = [];
  const states: FollowState[] = [];
  const events: [string, string][] = [];
  const snapshots: unknown[] = [];
  const readErrors: unknown[] = [];
  let reads = 0;
  const deps: FollowDeps = {
    openStream: (url) => {
      const s = new FakeStream(url);
      streams.push(s);
      return s;
    },
    readJob: () => {
      const answer = answers[Math.min(reads, answers.length - 1)];
      reads++;
      return answer ? answer() : Promise.reject(new Error("no answer"));
    },
    setTimeout: (fn, ms) => setTimeout(fn, ms) as unknown as number, // Node's timers (faked by vi)
    clearTimeout: (id) => clearTimeout(id as unknown as ReturnType<typeof setTimeout>),
  };
  const stop = followJob("job-1", deps, {
    onEvent: (k, d) => events.push([k, d]),
    onSnapshot: (s) => snapshots.push(s),
    onState: (s) => states.push(s),
    onReadError: (e) => readErrors.push(e),
  });
  const stream = (i: number): FakeStream => {
    const s = streams.at(i);
    if (!s) throw new Error(`no stream ${i}`);
    return s;
  };
  return { stream, streams, states, events, snapshots, readErrors, stop, reads: () => reads };
}

const job = (status: string, progress: number, stage = "") => () => Promise.resolve({ id: "job-1", type: "training", status, progress, stage, training: { message: "m" } });

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("followJob", () => {
  it("a broken stream: reads the job at once and every POLL_MS, reopens after 1 s then 2 s, resuming after the last event", async () => {
    const h = harness([job("running", 0.07, "TRAINING")]);
    const first = h.stream(0);
    first.open();
    first.emit("progress", { progress: 0.07 }, "1-0");
    first.fail();
    expect(first.closed).toBe(true);
    expect(h.states.at(-1)).toBe("reconnecting");
    await vi.advanceTimersByTimeAsync(0);
    expect(h.reads()).toBe(1);
    expect(h.snapshots).toEqual([{ status: "running", stage: "TRAINING", progress: 0.07, message: "m" }]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(h.streams).toHaveLength(2);
    expect(h.stream(1).url).toBe(streamUrl("job-1", "1-0"));
    expect(h.stream(1).url).toContain("last_event_id=1-0");
    h.stream(1).fail(); // still down: the next try waits 2 s
    await vi.advanceTimersByTimeAsync(1999);
    expect(h.streams).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.streams).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(POLL_MS);
    expect(h.reads()).toBeGreaterThanOrEqual(2); // polled while no stream is open
    const readsBefore = h.reads();
    h.stream(2).open(); // back: polling stops
    expect(h.states.at(-1)).toBe("open");
    await vi.advanceTimersByTimeAsync(10 * POLL_MS);
    expect(h.reads()).toBe(readsBefore);
  });

  it("the back-off is bounded at 30 s", async () => {
    const h = harness([job("running", 0.1)]);
    for (let i = 0; i < 8; i++) {
      h.stream(-1).fail();
      await vi.advanceTimersByTimeAsync(30_000);
    }
    const n = h.streams.length;
    h.stream(-1).fail();
    await vi.advanceTimersByTimeAsync(29_999);
    expect(h.streams).toHaveLength(n);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.streams).toHaveLength(n + 1);
  });

  it("a terminal status read while the stream is down ends everything: no stream, no timer", async () => {
    const h = harness([job("running", 0.07), job("succeeded", 1, "TRAINED")]);
    h.stream(0).fail();
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(999); // not reconnected yet; the second read (at POLL_MS) is terminal
    h.streams[1]?.fail();
    await vi.advanceTimersByTimeAsync(POLL_MS);
    expect(h.states.at(-1)).toBe("done");
    expect(h.streams.every((s) => s.closed)).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    const n = h.streams.length;
    await vi.advanceTimersByTimeAsync(120_000);
    expect(h.streams).toHaveLength(n);
  });

  it("the stream's end event ends it; stop() on unmount leaves nothing and calls nothing back", async () => {
    const h = harness([job("running", 0.5)]);
    h.stream(0).open();
    h.stream(0).emit("end", { status: "succeeded" });
    expect(h.states.at(-1)).toBe("done");
    expect(h.stream(0).closed).toBe(true);
    expect(vi.getTimerCount()).toBe(0);

    const g = harness([job("running", 0.5)]);
    g.stream(0).fail();
    expect(vi.getTimerCount()).toBeGreaterThan(0);
    const statesBefore = g.states.length;
    g.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(vi.getTimerCount()).toBe(0);
    expect(g.streams).toHaveLength(1);
    expect(g.stream(0).closed).toBe(true);
    expect(g.snapshots).toEqual([]); // the read in flight at stop() is dropped
    expect(g.states).toHaveLength(statesBefore);
  });

  it("a failed or nonsense read is reported and polling goes on", async () => {
    const h = harness([() => Promise.reject(new Error("503")), () => Promise.resolve({ status: "weird", progress: 2 }), job("failed", 0.3, "FAILED")]);
    h.stream(0).fail();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.readErrors.at(-1)).toBeInstanceOf(Error);
    h.streams[1]?.fail();
    await vi.advanceTimersByTimeAsync(POLL_MS);
    h.stream(-1).fail();
    await vi.advanceTimersByTimeAsync(POLL_MS);
    expect(h.readErrors.at(-1)).toBeNull();
    expect(h.states.at(-1)).toBe("done");
  });

  it("a late error of a replaced stream is ignored", () => {
    const h = harness([job("running", 0.1)]);
    const first = h.stream(0);
    first.fail();
    const states = h.states.length;
    first.fail();
    expect(h.states).toHaveLength(states);
  });
});

describe("parseJobSnapshot and applyJobSnapshot", () => {
  it("takes the generic job shape only", () => {
    expect(parseJobSnapshot({ status: "running", progress: 0.5, stage: "TRAINING", training: { message: "fold 2" } })).toEqual({
      status: "running",
      stage: "TRAINING",
      progress: 0.5,
      message: "fold 2",
    });
    expect(parseJobSnapshot({ status: "succeeded", progress: 1, stage: null })).toEqual({ status: "succeeded", stage: "", progress: 1, message: "" });
    for (const bad of [null, "x", 3, {}, { status: "TRAINED", progress: 1 }, { status: "running", progress: 1.5 }, { status: "running", progress: Number.NaN }, { status: "running", progress: "0.5" }])
      expect(parseJobSnapshot(bad)).toBeNull();
  });
  it("never goes backwards, 100 % once succeeded, ends on a terminal status, and leaves an ended view alone", () => {
    let v = applyJobSnapshot({ ...initialJob, progress: 0.4 }, { status: "running", stage: "TRAINING", progress: 0.2, message: "" });
    expect(v).toMatchObject({ status: "running", stage: "TRAINING", progress: 0.4, ended: false });
    v = applyJobSnapshot(v, { status: "succeeded", stage: "TRAINED", progress: 0.9, message: "" });
    expect(v).toMatchObject({ status: "succeeded", stage: "TRAINED", progress: 1, ended: true });
    const failed = applyJobSnapshot({ ...initialJob, progress: 0.3 }, { status: "failed", stage: "FAILED", progress: 0.3, message: "" });
    expect(failed).toMatchObject({ progress: 0.3, ended: true });
    expect(applyJobSnapshot(failed, { status: "running", stage: "", progress: 0.9, message: "" })).toBe(failed);
  });
});
