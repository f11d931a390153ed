import { createContext, useContext } from "react";
import type { Session } from "../api/auth";
import type { Lang, MessageKey } from "../lib/i18n";
import type { Route } from "../lib/route";

export interface AppContext {
  session: Session;
  lang: Lang;
  t: (key: MessageKey) => string;
  navigate: (route: Route) => void;
}

export const Ctx = createContext<AppContext | null>(null);

export function useApp(): AppContext {
  const ctx = useContext(Ctx);
  if (!ctx) throw new Error("useApp outside the app");
  return ctx;
}
