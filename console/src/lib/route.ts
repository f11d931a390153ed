// Client routes under the console's base path (/admin/): the API serves index.html for any of them.
export type Route =
  | { page: "fleet" }
  | { page: "asset"; assetId: string }
  | { page: "alerts" }
  | { page: "keys" }
  | { page: "signin" };

export const BASE = "/admin/";

export function parseRoute(pathname: string): Route {
  const rest = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname.replace(/^\/+/, "");
  const [head, ...tail] = rest.split("/");
  switch (head) {
    case "assets": {
      let assetId = "";
      try {
        assetId = decodeURIComponent(tail.join("/"));
      } catch {
        assetId = "";
      }
      return assetId ? { page: "asset", assetId } : { page: "fleet" };
    }
    case "alerts":
      return { page: "alerts" };
    case "keys":
      return { page: "keys" };
    case "signin":
      return { page: "signin" };
    default:
      return { page: "fleet" };
  }
}

export function pathOf(route: Route): string {
  switch (route.page) {
    case "asset":
      return `${BASE}assets/${encodeURIComponent(route.assetId)}`;
    case "fleet":
      return BASE;
    default:
      return `${BASE}${route.page}`;
  }
}
