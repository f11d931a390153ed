import { useEffect, useReducer, useState, type ReactNode } from "react";
import { cancelJob } from "../api/data";
import { applyJobEvent, initialJob, shownState, type JobView } from "../lib/jobEvents";
import { ErrorBox } from "./Status";
import { useApp } from "./context";

type Action = { kind: string; data: string };
const reducer = (view: JobView, a: Action): JobView => applyJobEvent(view, a.kind, a.data);
const KINDS = ["status", "progress", "log", "end"];

/** A job followed live over its SSE stream: progress bar, state (a training job's stage), log, cancel. */
export function JobFollower({ jobId, canCancel, onEnded }: { jobId: string; canCancel: boolean; onEnded: (view: JobView) => void }): ReactNode {
  const { t } = useApp();
  const [view, dispatch] = useReducer(reducer, initialJob);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    const source = new EventSource(`/api/v1/jobs/${encodeURIComponent(jobId)}/logs/stream`);
    const handlers = KINDS.map((kind) => {
      const h = (e: MessageEvent<string>): void => {
        dispatch({ kind, data: e.data });
        if (kind === "end") source.close();
      };
      source.addEventListener(kind, h);
      return h;
    });
    return () => {
      KINDS.forEach((kind, i) => {
        const h = handlers[i];
        if (h) source.removeEventListener(kind, h);
      });
      source.close();
    };
  }, [jobId]);

  useEffect(() => {
    if (view.ended) onEnded(view);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [view.ended]);

  const pct = Math.round(100 * view.progress);
  return (
    <div className="job" data-testid="job" data-status={view.status} data-stage={view.stage} data-progress={pct}>
      <div>
        {t("job")} <code>{jobId.slice(0, 8)}</code> · <b data-testid="job-status">{shownState(view)}</b> {view.message ? `· ${view.message}` : ""}
      </div>
      <div className="progress-row">
        <progress max={100} value={pct} aria-label={t("progress")} />
        <span data-testid="job-progress">{pct} %</span>
        {canCancel && !view.ended ? (
          <button
            type="button"
            onClick={() => {
              cancelJob(jobId).catch(setError);
            }}
          >
            {t("cancel")}
          </button>
        ) : null}
      </div>
      <ErrorBox error={error} />
      <details open>
        <summary>{t("log")}</summary>
        <pre className="log" data-testid="job-log">
          {view.log.join("\n")}
        </pre>
      </details>
    </div>
  );
}
