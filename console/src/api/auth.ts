// Sign-in, sign-out and the current session (POST /api/v1/auth/login, /logout, GET /me).
import { call } from "./client";

export type Role = "admin" | "operator" | "viewer";

export interface Session {
  username: string;
  role: Role;
  scopes: string[];
  expires_at: string;
}

export const login = (username: string, password: string): Promise<Session> =>
  call<Session>("POST", "/api/v1/auth/login", { username, password });

export const logout = (): Promise<unknown> => call<unknown>("POST", "/api/v1/auth/logout");

export const me = (): Promise<Session> => call<Session>("GET", "/api/v1/auth/me");

/** What a session may do: the scopes the API grants its role (admin holds every scope). */
export function can(session: Session | null, scope: "read" | "write" | "model" | "admin"): boolean {
  if (!session) return false;
  return session.scopes.includes("admin") || session.scopes.includes(scope);
}
