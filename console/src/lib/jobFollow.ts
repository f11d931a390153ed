// Following a job live with recovery from a broken stream. The job's SSE stream (GET /jobs/{id}/logs/stream)
// can answer 503 (Redis down), 429 or drop mid-way; EventSource then either closes for good or retries on
// its own without ever telling the page the job moved. So on any error before the job has ended, the
// follower closes the stream, reads GET /jobs/{id} at once and every POLL_MS (progress and the final status
// still arrive), and reopens the stream after a bounded back-off (1 s doubling to 30 s), resuming after the
// last event id it saw. A terminal status (from the stream or a read) or stop() ends everything: no timer
// and no EventSource is left. The browser objects are injected, so this runs under Vitest with fakes.

import { retryDelay } from "./liveStream";
import { TERMINAL, type JobView } from "./jobEvents";

export const POLL_MS = 3000;
export const STREAM_EVENTS = ["status", "progress", "log", "end"] as const;

export type FollowState = "connecting" | "open" | "reconnecting" | "done";

/** What the follower needs of EventSource (the browser's satisfies it). */
export interface StreamLike {
  onopen: ((ev: Event) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
  addEventListener(type: string, listener: (ev: MessageEvent<string>) => void): void;
  close(): void;
}

export interface FollowDeps {
  openStream: (url: string) => StreamLike;
  /** GET /jobs/{id}: the job in the generic shape (its `data`), or a rejection. */
  readJob: (jobId: string) => Promise<unknown>;
  setTimeout: (fn: () => void, ms: number) => number;
  clearTimeout: (id: number) => void;
}

export interface FollowHandlers {
  /** An event from the stream: kind is status | progress | log | end, data its JSON. */
  onEvent: (kind: string, data: string) => void;
  /** The job as GET /jobs/{id} answered it while the stream was down. */
  onSnapshot: (snapshot: JobSnapshot) => void;
  onState: (state: FollowState) => void;
  /** A failed read of the job (shown, then cleared by the next good read); null = cleared. */
  onReadError: (error: unknown) => void;
}

/** The fields of GET /jobs/{id} the follower uses; anything else in the answer is ignored. */
export interface JobSnapshot {
  status: string;
  stage: string;
  progress: number;
  message: string;
}

const STATUSES = new Set(["queued", "running", "succeeded", "failed", "canceled"]);

/** The job answer as a snapshot, or null when it is not one (wrong types, unknown status, progress not in 0..1). */
export function parseJobSnapshot(body: unknown): JobSnapshot | null {
  if (typeof body !== "object" || body === null) return null;
  const b = body as Record<string, unknown>;
  const status = b["status"];
  const progress = b["progress"];
  if (typeof status !== "string" || !STATUSES.has(status)) return null;
  if (typeof progress !== "number" || !Number.isFinite(progress) || progress < 0 || progress > 1) return null;
  const stage = typeof b["stage"] === "string" ? b["stage"] : "";
  const training = b["training"];
  let message = "";
  if (typeof training === "object" && training !== null) {
    const m = (training as Record<string, unknown>)["message"];
    if (typeof m === "string") message = m;
  }
  return { status, stage, progress, message };
}

/** The view after a read of the job: never backwards in progress, 100 % once succeeded, ended on a terminal status. */
export function applyJobSnapshot(view: JobView, s: JobSnapshot): JobView {
  if (view.ended) return view; // the stream's end event already said how it ended
  const ended = TERMINAL.has(s.status);
  return {
    ...view,
    status: s.status,
    stage: s.stage || view.stage,
    message: s.message || view.message,
    progress: s.status === "succeeded" ? 1 : Math.max(view.progress, s.progress),
    ended,
  };
}

/** Whether a stream event ends the job (the end event, or a status event with a terminal status). */
export function endsJob(kind: string, data: string): boolean {
  if (kind === "end") return true;
  if (kind !== "status") return false;
  try {
    const parsed: unknown = JSON.parse(data);
    return typeof parsed === "object" && parsed !== null && TERMINAL.has(String((parsed as Record<string, unknown>)["status"]));
  } catch {
    return false;
  }
}

export const streamUrl = (jobId: string, lastId: string | null): string =>
  `/api/v1/jobs/${encodeURIComponent(jobId)}/logs/stream` + (lastId ? `?last_event_id=${encodeURIComponent(lastId)}` : "");

/** Follow job `jobId`; returns stop() (idempotent), which closes the stream and clears every timer. */
export function followJob(jobId: string, deps: FollowDeps, h: FollowHandlers): () => void {
  let source: StreamLike | null = null;
  let isOpen = false;
  let lastId: string | null = null;
  let attempt = 0;
  let reconnectTimer: number | null = null;
  let pollTimer: number | null = null;
  let polling = false; // a read in flight or a read scheduled
  let done = false;

  const teardown = (): void => {
    done = true;
    if (reconnectTimer !== null) deps.clearTimeout(reconnectTimer);
    if (pollTimer !== null) deps.clearTimeout(pollTimer);
    reconnectTimer = pollTimer = null;
    source?.close();
    source = null;
  };
  const finish = (): void => {
    if (done) return;
    teardown();
    h.onState("done");
  };

  const next = (): void => {
    if (done) return;
    if (isOpen) polling = false;
    else pollTimer = deps.setTimeout(poll, POLL_MS);
  };
  const poll = (): void => {
    pollTimer = null;
    if (done) return;
    deps.readJob(jobId).then(
      (body) => {
        if (done) return;
        const snap = parseJobSnapshot(body);
        if (snap === null) {
          h.onReadError(new Error("the job's answer is not a job"));
        } else {
          h.onReadError(null);
          h.onSnapshot(snap);
          if (TERMINAL.has(snap.status)) return finish();
        }
        next();
      },
      (err: unknown) => {
        if (done) return;
        h.onReadError(err);
        next();
      },
    );
  };

  const broken = (es: StreamLike): void => {
    if (done || es !== source) return; // a stale stream's late error
    es.close();
    source = null;
    isOpen = false;
    h.onState("reconnecting");
    if (!polling) {
      polling = true; // read the job now, then every POLL_MS while no stream is open
      poll();
    }
    if (reconnectTimer === null) {
      reconnectTimer = deps.setTimeout(() => {
        reconnectTimer = null;
        open();
      }, retryDelay(attempt++));
    }
  };

  const open = (): void => {
    if (done) return;
    h.onState("connecting");
    const es = deps.openStream(streamUrl(jobId, lastId));
    source = es;
    es.onopen = () => {
      if (done || es !== source) return;
      attempt = 0;
      isOpen = true;
      if (pollTimer !== null) {
        deps.clearTimeout(pollTimer);
        pollTimer = null;
        polling = false;
      } // a read in flight stops itself when it sees the stream open
      h.onState("open");
    };
    es.onerror = () => broken(es);
    for (const kind of STREAM_EVENTS) {
      es.addEventListener(kind, (e) => {
        if (done || es !== source) return;
        if (e.lastEventId) lastId = e.lastEventId;
        h.onEvent(kind, e.data);
        if (endsJob(kind, e.data)) finish();
      });
    }
  };

  open();
  return teardown; // unmount: nothing is called back after this
}
