// A job followed over its SSE stream (GET /jobs/{id}/logs/stream): events status, progress, log, end, in
// the one job vocabulary (docs/api.md): status queued|running|succeeded|failed|canceled, a training job's
// finer `stage` (PENDING ... CANCELED), progress 0..1. The reducer is pure; the page feeds it what
// EventSource delivers.

export interface JobView {
  status: string; // queued | running | succeeded | failed | canceled
  stage: string; // a training job's finer state ("" until known)
  progress: number; // 0..1
  message: string;
  log: string[];
  ended: boolean;
}

export const initialJob: JobView = { status: "queued", stage: "", progress: 0, message: "", log: [], ended: false };
export const TERMINAL = new Set(["succeeded", "failed", "canceled"]);
export const MAX_LOG_LINES = 500;

/** What the page shows as the job's state: the training stage when there is one. */
export const shownState = (view: JobView): string => view.stage || view.status;

const clamp01 = (p: number): number => Math.min(1, Math.max(0, p));

export function applyJobEvent(view: JobView, kind: string, data: string): JobView {
  let fields: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(data);
    if (typeof parsed !== "object" || parsed === null) return view;
    fields = parsed as Record<string, unknown>;
  } catch {
    return view;
  }
  const text = (k: string): string => (typeof fields[k] === "string" ? (fields[k] as string) : "");
  switch (kind) {
    case "status": {
      const status = text("status") || view.status;
      return {
        ...view,
        status,
        stage: text("stage") || view.stage,
        message: text("message") || view.message,
        progress: status === "succeeded" ? 1 : view.progress,
        ended: view.ended || TERMINAL.has(status),
      };
    }
    case "progress": {
      const p = Number(fields["progress"]);
      return Number.isFinite(p) ? { ...view, progress: Math.max(view.progress, clamp01(p)), message: text("message") || view.message } : view;
    }
    case "log":
      return { ...view, log: [...view.log, text("line")].slice(-MAX_LOG_LINES) };
    case "end": {
      const status = text("status") || view.status;
      const p = typeof fields["progress"] === "number" ? clamp01(fields["progress"] as number) : view.progress;
      return { ...view, status, stage: text("stage") || view.stage, progress: status === "succeeded" ? 1 : p, ended: true };
    }
    default:
      return view;
  }
}
