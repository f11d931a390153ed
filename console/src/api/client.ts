// The typed API client: generated from docs/openapi.json (npm run gen:api), so a changed route or
// payload breaks `tsc`. Same origin as the API: the session cookie goes with every request, and a
// state-changing request echoes the readable kw_csrf cookie in X-CSRF-Token (double submit).
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

export function readCookie(name: string, cookies: string): string | null {
  for (const part of cookies.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return null;
}

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
let language = "en-US";
let onUnauthorized: () => void = () => {};

export function setApiLanguage(lang: string): void {
  language = lang;
}

export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

export function headersFor(method: string, cookies: string): Record<string, string> {
  const h: Record<string, string> = { "Accept-Language": language };
  if (!SAFE.has(method.toUpperCase())) {
    const csrf = readCookie("kw_csrf", cookies);
    if (csrf) h["X-CSRF-Token"] = csrf;
  }
  return h;
}

const session: Middleware = {
  onRequest({ request }) {
    for (const [k, v] of Object.entries(headersFor(request.method, document.cookie))) {
      request.headers.set(k, v);
    }
    return request;
  },
  onResponse({ response, request }) {
    if (response.status === 401 && !request.url.includes("/auth/")) onUnauthorized();
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: "", credentials: "same-origin" });
api.use(session);

/** An API error as the API words it (its localized message), with field details when given. */
export class ApiFailure extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: { loc: (string | number)[]; msg: string }[];
  constructor(status: number, code: string, message: string, details: { loc: (string | number)[]; msg: string }[] = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** The envelope's error as an ApiFailure (any body: a proxy's HTML page still gives a message). */
export function failureOf(status: number, body: unknown): ApiFailure {
  const err = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
  if (err && typeof err.message === "string") {
    const details = Array.isArray(err.details)
      ? err.details.flatMap((d: unknown) => {
          const o = d as { loc?: unknown; msg?: unknown };
          return Array.isArray(o.loc) && typeof o.msg === "string"
            ? [{ loc: o.loc as (string | number)[], msg: o.msg }]
            : [];
        })
      : [];
    return new ApiFailure(status, typeof err.code === "string" ? err.code : "ERROR", err.message, details);
  }
  return new ApiFailure(status, "HTTP_ERROR", `HTTP ${status}`);
}

/** The data of a successful envelope, or throw the API's error. */
export function unwrap<T>(result: { data?: { data: T }; error?: unknown; response: Response }): T {
  if (result.data !== undefined && result.response.ok) return result.data.data;
  throw failureOf(result.response.status, result.error ?? null);
}

/** Plain fetch for routes the generated document does not describe yet, with the same headers. */
export async function call<T>(method: string, url: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = headersFor(method, document.cookie);
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const init: RequestInit = { method, headers, credentials: "same-origin" };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(url, init);
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) throw failureOf(response.status, parsed);
  return (parsed as { data: T }).data;
}
