// What the pages ask the API, through the generated client (a changed route or payload fails tsc).
import { api, call, failureOf, unwrap, type Schemas } from "./client";
import type { AlertConfigBody } from "../lib/forms";
import type { paths } from "./schema";

export type Asset = Schemas["AssetPublic"];
export type ModelVersion = Schemas["ModelVersionPublic"];
export type Anomaly = Schemas["api__routes__anomalies__AnomalyPublic"];
export type Forecast = Schemas["ForecastPublic"];
export type Job = Schemas["JobPublic"];
export type ApiKey = Schemas["ApiKeyPublic"];
export type ApiKeyCreated = Schemas["ApiKeyCreated"];
export type AlertConfig = Schemas["AlertConfigPublic"];
export type ReadingSeries = Schemas["ReadingSeriesPublic"];

/** A list route's items: a bare array, or a page {items, next_cursor, has_more}. */
export function listItems<T>(data: T[] | { items: T[] }): T[] {
  return Array.isArray(data) ? data : data.items;
}

const asset = (asset_id: string) => ({ params: { path: { asset_id } } });

export async function listAssets(): Promise<Asset[]> {
  return listItems(unwrap(await api.GET("/api/v1/assets", { params: { query: { limit: 1000 } } })));
}

export async function readings(assetId: string, from?: Date, to?: Date, maxPoints = 100_000): Promise<ReadingSeries> {
  const query: { from?: string; to?: string; max_points: number } = { max_points: maxPoints };
  if (from) query.from = from.toISOString();
  if (to) query.to = to.toISOString();
  return unwrap(await api.GET("/api/v1/assets/{asset_id}/readings", { params: { path: { asset_id: assetId }, query } }));
}

/** Anomalies of an asset in [from, to), oldest first, at most `pages` pages of 1000. */
export async function anomalies(assetId: string, from: Date, to?: Date, pages = 5): Promise<Anomaly[]> {
  const out: Anomaly[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < pages; i++) {
    const query: { from: string; to?: string; limit: number; sort: "created_at:asc"; cursor?: string } = {
      from: from.toISOString(),
      limit: 1000,
      sort: "created_at:asc",
    };
    if (to) query.to = to.toISOString();
    if (cursor) query.cursor = cursor;
    const res = await api.GET("/api/v1/assets/{asset_id}/anomalies", { params: { path: { asset_id: assetId }, query } });
    out.push(...listItems(unwrap(res)));
    cursor = res.data?.meta?.next_cursor ?? undefined;
    if (!res.data?.meta?.has_more || !cursor) break;
  }
  return out;
}

export async function latestForecast(assetId: string): Promise<Forecast | null> {
  const res = await api.GET("/api/v1/assets/{asset_id}/forecasts/latest", asset(assetId));
  if (res.response.status === 404) return null;
  return unwrap(res);
}

/** An asset's model versions; none for an asset the registry does not know (seen by the stream only). */
export async function models(assetId: string): Promise<ModelVersion[]> {
  const res = await api.GET("/api/v1/assets/{asset_id}/models", asset(assetId));
  if (res.response.status === 404) return [];
  return listItems(unwrap(res));
}

export async function activate(assetId: string, version: number): Promise<ModelVersion> {
  return unwrap(
    await api.POST("/api/v1/assets/{asset_id}/models/{version}/activate", {
      params: { path: { asset_id: assetId, version } },
    }),
  );
}

export async function rollback(assetId: string): Promise<ModelVersion> {
  return unwrap(await api.POST("/api/v1/assets/{asset_id}/models/rollback", { ...asset(assetId), body: { version: null } }));
}

export async function startTraining(body: Schemas["TrainingJobCreate"]): Promise<Job> {
  return unwrap(await api.POST("/api/v1/training-jobs", { body }));
}

export async function cancelJob(jobId: string): Promise<void> {
  const res = await api.POST("/api/v1/jobs/{job_id}/cancel", { params: { path: { job_id: jobId } } });
  if (!res.response.ok) throw failureOf(res.response.status, res.error ?? null);
}

type ReadingsBody = paths["/api/v1/readings"]["post"]["requestBody"]["content"]["application/json"];
export type ReadingIn = ReadingsBody["readings"][number];

export async function postReadings(rows: ReadingIn[]): Promise<Schemas["ReadingsAcceptedPublic"]> {
  return unwrap(await api.POST("/api/v1/readings", { body: { readings: rows } }));
}

/** The stored alert configuration as the form shows it (the API names the types `types`, and before
 * that `anomaly_types`: either is read). */
export interface AlertSettings {
  email: string;
  threshold: number;
  frequency: string;
  types: string[];
  enabled: boolean;
}

function alertSettings(c: AlertConfig): AlertSettings {
  const named = c as { types?: readonly string[]; anomaly_types?: readonly string[] };
  return {
    email: c.email,
    threshold: c.threshold,
    frequency: c.frequency,
    types: [...(named.types ?? named.anomaly_types ?? [])],
    enabled: c.enabled,
  };
}

export async function getAlertConfig(): Promise<AlertSettings | null> {
  const res = await api.GET("/api/v1/alert-config");
  if (res.response.status === 404) return null;
  return alertSettings(unwrap(res));
}

/** Replace the configuration. The types go as `anomaly_types`, which every version of the route takes. */
export async function putAlertConfig(body: AlertConfigBody): Promise<AlertSettings> {
  const sent = body as unknown as Schemas["AlertConfigUpdate"];
  return alertSettings(unwrap(await api.PUT("/api/v1/alert-config", { body: sent })));
}

export async function listKeys(): Promise<ApiKey[]> {
  return listItems(unwrap(await api.GET("/api/v1/api-keys", { params: { query: { limit: 1000 } } })));
}

export async function createKey(body: Schemas["ApiKeyCreate"]): Promise<ApiKeyCreated> {
  return unwrap(await api.POST("/api/v1/api-keys", { body }));
}

export async function revokeKey(keyId: string): Promise<unknown> {
  return unwrap(await api.DELETE("/api/v1/api-keys/{key_id}", { params: { path: { key_id: keyId } } }));
}

// Users (admin): routes of the sign-in work, called through `call` until docs/openapi.json has them.
export interface User {
  username: string;
  role: string;
  created_at?: string;
}
export const listUsers = async (): Promise<User[]> => listItems(await call<User[] | { items: User[] }>("GET", "/api/v1/users"));
export const createUser = (username: string, role: string, password: string): Promise<User> =>
  call<User>("POST", "/api/v1/users", { username, role, password });
export const deleteUser = (username: string): Promise<unknown> => call("DELETE", `/api/v1/users/${encodeURIComponent(username)}`);
