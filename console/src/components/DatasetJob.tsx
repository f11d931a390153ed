import { useEffect, useState, type ReactNode } from "react";
import { getGenericJob, jobResult, type GenericJob } from "../api/datasets";
import { cancelJob } from "../api/data";
import { can } from "../api/auth";
import { JOB_TERMINAL, pollDelayMs } from "../lib/datasets";
import { ErrorBox } from "./Status";
import { useApp } from "./context";

/** A dataset job (preprocess, statistics, ...) followed to its end. Generic jobs have no SSE stream
 * (the job SSE route tails training jobs only), so its state is read every 0.25-2 s until it is
 * succeeded, failed or canceled; then the result is read once and handed to `onDone`. */
export function DatasetJob({ job, onDone, testId }: { job: GenericJob; onDone: (result: unknown, job: GenericJob) => void; testId: string }): ReactNode {
  const { t, session } = useApp();
  const [state, setState] = useState<GenericJob>(job);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const step = async (attempt: number): Promise<void> => {
      try {
        const j = await getGenericJob(job.id);
        if (!live) return;
        setState(j);
        if (JOB_TERMINAL.has(j.status)) {
          if (j.status === "succeeded") {
            const r = await jobResult(j.id);
            if (live) onDone(r, j);
          } else onDone(null, j);
          return;
        }
      } catch (e) {
        if (!live) return;
        setError(e); // shown; the next read may succeed (a restart of the API, a lost connection)
      }
      timer = setTimeout(() => void step(attempt + 1), pollDelayMs(attempt));
    };
    timer = setTimeout(() => void step(0), pollDelayMs(0));
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [job.id]);

  const pct = Math.round(100 * Math.min(1, Math.max(0, state.progress)));
  const ended = JOB_TERMINAL.has(state.status);
  return (
    <div className="job" data-testid={testId} data-status={state.status}>
      <div className="progress-row">
        <progress max={100} value={pct} aria-label={t("progress")} />
        <span>
          {pct} % · <b data-testid={`${testId}-status`}>{state.status}</b>
        </span>
        {can(session, "model") && !ended ? (
          <button type="button" onClick={() => cancelJob(state.id).catch(setError)}>
            {t("cancel")}
          </button>
        ) : null}
      </div>
      {state.error ? (
        <div className="error" role="alert">
          {state.error.message} ({state.error.code})
        </div>
      ) : null}
      <ErrorBox error={error} />
    </div>
  );
}

export interface JobRun {
  job: GenericJob | null;
  /** The job was started on this page (not the latest one found when the page opened). */
  fresh: boolean;
  result: unknown;
  error: unknown;
  busy: boolean;
  /** Submit: the API's refusal (422 naming the field) lands in `error`, nothing is followed. */
  start: (submit: () => Promise<GenericJob>) => void;
  done: (result: unknown, job: GenericJob) => void;
}

/** The state of one kind of job on the page: the latest submitted job (at first, the latest one the
 * dataset had: its result shows again) and its result. */
export function useJobRun(last?: GenericJob): JobRun {
  const [job, setJob] = useState<GenericJob | null>(last ?? null);
  const [fresh, setFresh] = useState(false);
  const [result, setResult] = useState<unknown>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return {
    job,
    fresh,
    result,
    error,
    busy,
    start: (submit) => {
      setError(null);
      setBusy(true);
      submit().then(
        (j) => {
          setResult(null);
          setFresh(true);
          setJob(j);
        },
        (e: unknown) => {
          setError(e);
          setBusy(false);
        },
      );
    },
    done: (r) => {
      setResult(r);
      setBusy(false);
    },
  };
}

/** Under a job form: the refusal of its last submit, then the job it started (or the latest one found)
 * followed to its end; `onDone` defaults to the run's own. */
export function JobRunView({ run, testId, onDone }: { run: JobRun; testId: string; onDone?: (result: unknown, job: GenericJob) => void }): ReactNode {
  return (
    <>
      <ErrorBox error={run.error} />
      {run.job ? <DatasetJob key={run.job.id} job={run.job} onDone={onDone ?? run.done} testId={testId} /> : null}
    </>
  );
}
