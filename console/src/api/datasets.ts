// What the Datasets pages ask the API (issue 17's routes), through the generated client: a changed
// route or payload fails tsc.
import { lastWindowStart } from "../lib/datasets";
import { api, failureOf, unwrap, type Schemas } from "./client";

export type Dataset = Schemas["DatasetPublic"];
export type DatasetStatus = Schemas["DatasetStatus"];
export type GenericJob = Schemas["GenericJobPublic"];
export type Dashboard = Schemas["Dashboard"];
export type Report = Schemas["ReportPublic"];
export type DatasetAnomaly = Schemas["DatasetAnomaly"];

export const DATASET_PAGE = 25;

export interface DatasetPage {
  items: Dataset[];
  next_cursor: string | null;
  has_more: boolean;
}

/** One page of datasets, newest first, optionally of one status. */
export async function listDatasets(status: DatasetStatus | "", cursor: string | null): Promise<DatasetPage> {
  const query: { limit: number; status?: DatasetStatus; cursor?: string } = { limit: DATASET_PAGE };
  if (status) query.status = status;
  if (cursor) query.cursor = cursor;
  const page = unwrap(await api.GET("/api/v1/datasets", { params: { query } }));
  return { items: page.items, next_cursor: page.next_cursor ?? null, has_more: page.has_more };
}

const ds = (dataset_id: string) => ({ params: { path: { dataset_id } } });

export async function getDataset(id: string): Promise<Dataset> {
  return unwrap(await api.GET("/api/v1/datasets/{dataset_id}", ds(id)));
}

export async function preprocess(id: string, body: Schemas["PreprocessParams"]): Promise<GenericJob> {
  return unwrap(await api.POST("/api/v1/datasets/{dataset_id}/preprocess", { ...ds(id), body }));
}

export async function statistics(id: string, body: Schemas["StatisticsParams"]): Promise<GenericJob> {
  return unwrap(await api.POST("/api/v1/datasets/{dataset_id}/statistics", { ...ds(id), body }));
}

export async function loadPatterns(id: string, body: Schemas["LoadPatternsParams"]): Promise<GenericJob> {
  return unwrap(await api.POST("/api/v1/datasets/{dataset_id}/load-patterns", { ...ds(id), body }));
}

export async function datasetAnomalies(id: string, body: Schemas["DatasetAnomaliesParams"]): Promise<GenericJob> {
  return unwrap(await api.POST("/api/v1/datasets/{dataset_id}/anomalies", { ...ds(id), body }));
}

export async function makeReport(id: string, body: Schemas["ReportParams"]): Promise<GenericJob> {
  return unwrap(await api.POST("/api/v1/datasets/{dataset_id}/reports", { ...ds(id), body }));
}

/** A generic job's state (GET /jobs/{id} answers generic jobs in this shape). */
export async function getGenericJob(id: string): Promise<GenericJob> {
  const res = await api.GET("/api/v1/jobs/{job_id}", { params: { path: { job_id: id } } });
  if (!res.response.ok || !res.data) throw failureOf(res.response.status, res.error ?? null);
  return res.data.data as GenericJob; // the route answers a training job in its own shape: not asked here
}

/** A succeeded generic job's result (`data` as its type defines it). */
export async function jobResult(id: string): Promise<unknown> {
  const res = await api.GET("/api/v1/jobs/{job_id}/result", { params: { path: { job_id: id } } });
  if (!res.response.ok || !res.data) throw failureOf(res.response.status, res.error ?? null);
  return (res.data.data as { data?: unknown }).data;
}

/** The dashboard; the period pie by the given hours, else the API's default periods. */
export async function getDashboard(id: string, periods?: Schemas["TariffPeriods"] | null): Promise<Dashboard> {
  const query = periods ? { peak_hours: periods.peak_hours, valley_hours: periods.valley_hours, flat_hours: periods.flat_hours } : {};
  return unwrap(await api.GET("/api/v1/dashboards/{dataset_id}", { params: { path: { dataset_id: id }, query } }));
}

export async function getReport(id: string): Promise<Report> {
  return unwrap(await api.GET("/api/v1/reports/{report_id}", { params: { path: { report_id: id } } }));
}

/** The dataset's latest jobs, newest first (one page of 100: enough to find each type's newest). */
export async function datasetJobs(id: string): Promise<GenericJob[]> {
  const page = unwrap(await api.GET("/api/v1/jobs", { params: { query: { dataset_id: id, limit: 100 } } }));
  return page.items as GenericJob[];
}

export async function patchDataset(id: string, body: Schemas["DatasetPatch"]): Promise<Dataset> {
  return unwrap(await api.PATCH("/api/v1/datasets/{dataset_id}", { ...ds(id), body }));
}

export async function deleteDataset(id: string): Promise<void> {
  const res = await api.DELETE("/api/v1/datasets/{dataset_id}", ds(id));
  if (!res.response.ok) throw failureOf(res.response.status, res.error ?? null);
}

export const READINGS_SHOWN = 1000; // the route's page limit: the last 1,000 readings in one request

/** The dataset's last readings (raw or processed) as [timestamp, kWh | null] pairs. */
export async function lastReadings(d: Dataset, series: "raw" | "processed"): Promise<unknown[]> {
  const query: { series: "raw" | "processed"; format: "compact"; limit: number; from?: string } = { series, format: "compact", limit: READINGS_SHOWN };
  if (d.end_at) query.from = lastWindowStart(d.end_at, d.interval_s, READINGS_SHOWN);
  const page = unwrap(await api.GET("/api/v1/datasets/{dataset_id}/data", { params: { path: { dataset_id: d.id }, query } }));
  return page.items;
}
