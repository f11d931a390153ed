// Client routes under the console's base path (/admin/): the API serves index.html for any of them.
import type { RangeKey } from "./chart";

const RANGE_KEYS: readonly string[] = ["24h", "7d", "30d", "365d"];

export type Route =
  | { page: "fleet" }
  | { page: "asset"; assetId: string; range?: RangeKey }
  | { page: "alerts" }
  | { page: "keys" }
  | { page: "datasets" }
  | { page: "dataset"; datasetId: string }
  | { page: "signin" };

export const BASE = "/admin/";

// An asset is named in the query (/admin/asset?id=...): ids may hold "/" and ".", and the server
// answers index.html only for extension-less paths (and keeps /admin/assets/ for the built files).
export function parseRoute(pathname: string, search = ""): Route {
  const rest = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname.replace(/^\/+/, "");
  const head = rest.split("/")[0];
  switch (head) {
    case "asset": {
      const q = new URLSearchParams(search);
      const assetId = q.get("id") ?? "";
      const range = q.get("range") ?? "";
      if (!assetId) return { page: "fleet" };
      return RANGE_KEYS.includes(range) ? { page: "asset", assetId, range: range as RangeKey } : { page: "asset", assetId };
    }
    case "alerts":
      return { page: "alerts" };
    case "keys":
      return { page: "keys" };
    case "datasets":
      return { page: "datasets" };
    case "dataset": {
      const datasetId = new URLSearchParams(search).get("id") ?? "";
      return datasetId ? { page: "dataset", datasetId } : { page: "datasets" };
    }
    case "signin":
      return { page: "signin" };
    default:
      return { page: "fleet" };
  }
}

export function pathOf(route: Route): string {
  switch (route.page) {
    case "asset":
      return `${BASE}asset?${new URLSearchParams(route.range ? { id: route.assetId, range: route.range } : { id: route.assetId }).toString()}`;
    case "dataset":
      return `${BASE}dataset?${new URLSearchParams({ id: route.datasetId }).toString()}`;
    case "fleet":
      return BASE;
    default:
      return `${BASE}${route.page}`;
  }
}
