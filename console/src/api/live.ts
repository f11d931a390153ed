// The console's live routes: the fleet summary, recent alert episodes, and an asset's anomaly stream.
import { api, unwrap, type Schemas } from "./client";
import type { Anomaly } from "./data";

export type FleetRow = Schemas["FleetAssetPublic"];
export type Episode = Schemas["AlertEpisodePublic"];

export interface PageOf<T> {
  items: T[];
  next: string | null;
}

/** One page of the fleet (newest registration first), filtered by a substring of id or name. */
export async function fleetPage(q: string, cursor: string | null, limit = 100): Promise<PageOf<FleetRow>> {
  const query: { limit: number; q?: string; cursor?: string } = { limit };
  if (q.trim()) query.q = q.trim().slice(0, 128);
  if (cursor) query.cursor = cursor;
  const page = unwrap(await api.GET("/api/v1/fleet", { params: { query } }));
  return { items: page.items, next: page.has_more ? (page.next_cursor ?? null) : null };
}

/** One page of alert episodes, newest first. */
export async function episodesPage(cursor: string | null, limit = 50): Promise<PageOf<Episode>> {
  const query: { limit: number; cursor?: string } = { limit };
  if (cursor) query.cursor = cursor;
  const page = unwrap(await api.GET("/api/v1/alert-episodes", { params: { query } }));
  return { items: page.items, next: page.has_more ? (page.next_cursor ?? null) : null };
}

/** The anomaly stream's address (resuming after `lastId` when given). */
export function anomalyStreamUrl(assetId: string, lastId: string | null): string {
  const base = `/api/v1/assets/${assetId.split("/").map(encodeURIComponent).join("/")}/anomalies/stream`;
  return lastId ? `${base}?${new URLSearchParams({ last_event_id: lastId }).toString()}` : base;
}

/** An `anomaly` event's data, or null when it is not an anomaly of this asset. */
export function parseAnomalyEvent(data: string, assetId: string): Anomaly | null {
  try {
    const a = JSON.parse(data) as Partial<Anomaly> | null;
    if (!a || typeof a !== "object" || a.asset_id !== assetId) return null;
    if (typeof a.event_id !== "string" || typeof a.timestamp !== "string" || typeof a.value !== "number") return null;
    return a as Anomaly;
  } catch {
    return null;
  }
}
