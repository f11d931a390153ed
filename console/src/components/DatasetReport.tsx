import { useState, type FormEvent, type ReactNode } from "react";
import { ApiFailure } from "../api/client";
import { getReport, makeReport, type Dataset, type GenericJob, type Report } from "../api/datasets";
import { apiFieldErrors } from "../lib/datasets";
import { JobRunView, useJobRun } from "./DatasetJob";
import { TariffFields, usePeriodsForm } from "./DatasetStatistics";
import { ShownError } from "./PeriodFields";
import { ErrorBox } from "./Status";
import { useApp } from "./context";

/** A PDF or XLSX report (zh-CN or en-US) made by a job, then its state and a download link. */
export function DatasetReport({ dataset, last }: { dataset: Dataset; last?: GenericJob | undefined }): ReactNode {
  const { t, lang } = useApp();
  const [format, setFormat] = useState<"pdf" | "xlsx">("pdf");
  const [language, setLanguage] = useState<"zh-CN" | "en-US">(lang);
  const [title, setTitle] = useState("");
  const form = usePeriodsForm();
  const [report, setReport] = useState<Report | null>(null);
  const [readError, setReadError] = useState<unknown>(null);
  const run = useJobRun(last);

  const submit = (e: FormEvent): void => {
    e.preventDefault();
    const v = form.check(t);
    if (!v) return;
    setReport(null);
    const body = { format, language, title: title.trim() || null, periods: v.periods, prices: v.prices };
    run.start(async () => {
      try {
        return await makeReport(dataset.id, body);
      } catch (err) {
        if (err instanceof ApiFailure) form.setErrors(apiFieldErrors(err.details));
        throw err;
      }
    });
  };

  return (
    <section className="panel" aria-labelledby="ds-report">
      <h3 id="ds-report">{t("dsReport")}</h3>
      <form onSubmit={submit} noValidate aria-label={t("dsReport")}>
        <TariffFields form={form} idPrefix="report" />
        <div className="form-row">
        <label>
          {t("dsFormat")}
          <select name="report-format" value={format} onChange={(e) => setFormat(e.target.value as "pdf" | "xlsx")}>
            <option value="pdf">PDF</option>
            <option value="xlsx">Excel (XLSX)</option>
          </select>
        </label>
        <label>
          {t("dsReportLanguage")}
          <select name="report-language" value={language} onChange={(e) => setLanguage(e.target.value as "zh-CN" | "en-US")}>
            <option value="zh-CN">中文</option>
            <option value="en-US">English</option>
          </select>
        </label>
        <label>
          {t("dsTitle")}
          <input name="report-title" maxLength={200} value={title} onChange={(e) => setTitle(e.target.value)} />
          <ShownError errors={form.errors} name="title" />
        </label>
        <button type="submit" disabled={run.busy}>
          {t("dsMakeReport")}
        </button>
        </div>
      </form>
      <JobRunView
        run={run}
        testId="report-job"
        onDone={(res, j) => {
          run.done(res, j);
          getReport(j.id).then(setReport, setReadError);
        }}
      />
      <ErrorBox error={readError} />
      {report?.download_url ? (
        <p data-testid="report-ready">
          <a href={report.download_url} download={report.filename ?? undefined} data-testid="report-download">
            {t("dsDownload")} {report.filename}
          </a>{" "}
          <span className="muted">
            {report.content_type} · {report.size_bytes != null ? `${Math.round(report.size_bytes / 1024)} KiB` : ""}
          </span>
        </p>
      ) : null}
    </section>
  );
}
