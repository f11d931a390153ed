import { useEffect, useReducer, useState, type ReactNode } from "react";
import { cancelJob } from "../api/data";
import { readJob } from "../api/jobs";
import { applyJobEvent, initialJob, shownState, type JobView } from "../lib/jobEvents";
import { applyJobSnapshot, followJob, type FollowState, type JobSnapshot } from "../lib/jobFollow";
import { ErrorBox } from "./Status";
import { useApp } from "./context";

type Action = { kind: "event"; event: string; data: string } | { kind: "snapshot"; snapshot: JobSnapshot };
const reducer = (view: JobView, a: Action): JobView =>
  a.kind === "event" ? applyJobEvent(view, a.event, a.data) : applyJobSnapshot(view, a.snapshot);

/** A job followed live over its SSE stream: progress bar, state (a training job's stage), log, cancel. A
 * broken stream is reopened with a back-off while the job is read by id (lib/jobFollow). */
export function JobFollower({ jobId, canCancel, onEnded }: { jobId: string; canCancel: boolean; onEnded: (view: JobView) => void }): ReactNode {
  const { t } = useApp();
  const [view, dispatch] = useReducer(reducer, initialJob);
  const [error, setError] = useState<unknown>(null);
  const [readError, setReadError] = useState<unknown>(null);
  const [link, setLink] = useState<FollowState>("connecting");

  useEffect(
    () =>
      followJob(
        jobId,
        {
          openStream: (url) => new EventSource(url),
          readJob,
          setTimeout: (fn, ms) => window.setTimeout(fn, ms),
          clearTimeout: (id) => window.clearTimeout(id),
        },
        {
          onEvent: (event, data) => dispatch({ kind: "event", event, data }),
          onSnapshot: (snapshot) => dispatch({ kind: "snapshot", snapshot }),
          onState: setLink,
          onReadError: setReadError,
        },
      ),
    [jobId],
  );

  useEffect(() => {
    if (view.ended) onEnded(view);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [view.ended]);

  const pct = Math.round(100 * view.progress);
  return (
    <div className="job" data-testid="job" data-status={view.status} data-stage={view.stage} data-progress={pct} data-link={link}>
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
      {link === "reconnecting" && !view.ended ? (
        <p className="notice" data-testid="job-reconnecting" role="status">
          {t("jobReconnecting")}
        </p>
      ) : null}
      <ErrorBox error={error} />
      {link === "reconnecting" && !view.ended ? <ErrorBox error={readError} /> : null}
      <details open>
        <summary>{t("log")}</summary>
        <pre className="log" data-testid="job-log">
          {view.log.join("\n")}
        </pre>
      </details>
    </div>
  );
}
