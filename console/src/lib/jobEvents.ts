// A training job followed over its SSE stream (GET /jobs/{id}/logs/stream): events status, progress,
// log, end. The reducer is pure; the page feeds it what EventSource delivers.

export interface JobView {
  status: string;
  progress: number; // 0..100
  message: string;
  log: string[];
  ended: boolean;
}

export const initialJob: JobView = { status: "PENDING", progress: 0, message: "", log: [], ended: false };
const TERMINAL = new Set(["TRAINED", "FAILED", "CANCELED"]);
export const MAX_LOG_LINES = 500;

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
        message: text("message") || view.message,
        progress: status === "TRAINED" ? 100 : view.progress,
        ended: view.ended || TERMINAL.has(status),
      };
    }
    case "progress": {
      const p = Number(text("progress") || fields["progress"]);
      return Number.isFinite(p)
        ? { ...view, progress: Math.max(view.progress, Math.min(100, Math.max(0, p))), message: text("message") || view.message }
        : view;
    }
    case "log":
      return { ...view, log: [...view.log, text("line")].slice(-MAX_LOG_LINES) };
    case "end": {
      const status = text("status") || view.status;
      const progress = typeof fields["progress"] === "number" ? (fields["progress"] as number) : view.progress;
      return { ...view, status, progress: status === "TRAINED" ? 100 : progress, ended: true };
    }
    default:
      return view;
  }
}
