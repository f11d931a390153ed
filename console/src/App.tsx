import { Suspense, lazy, useCallback, useEffect, useMemo, useState, type ReactNode } from "react";
import { can, logout, me, type Session } from "./api/auth";
import { ApiFailure, setApiLanguage, setUnauthorizedHandler } from "./api/client";
import { Ctx, type AppContext } from "./components/context";
import { ErrorBox, Loading } from "./components/Status";
import { LANGS, detectLang, translate, type Lang, type MessageKey } from "./lib/i18n";
import { parseRoute, pathOf, type Route } from "./lib/route";
import { Alerts } from "./pages/Alerts";
import { Datasets } from "./pages/Datasets";
import { AssetPage } from "./pages/AssetPage";
import { Fleet } from "./pages/Fleet";
import { Keys } from "./pages/Keys";
import { SignIn } from "./pages/SignIn";

// The dataset page (forms, charts) loads when first opened, not with the console.
const DatasetsDetail = lazy(() => import("./pages/DatasetsDetail").then((m) => ({ default: m.DatasetsDetail })));

const LANG_KEY = "kw-lang";

function storedLang(): string | null {
  try {
    return window.localStorage.getItem(LANG_KEY);
  } catch {
    return null;
  }
}

export function App(): ReactNode {
  const [lang, setLang] = useState<Lang>(() => detectLang(navigator.languages, storedLang()));
  const [route, setRoute] = useState<Route>(() => parseRoute(window.location.pathname, window.location.search));
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [bootError, setBootError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const [signOutError, setSignOutError] = useState<unknown>(null);
  const t = useCallback((key: MessageKey) => translate(lang, key), [lang]);

  useEffect(() => {
    setApiLanguage(lang);
    document.documentElement.lang = lang;
    document.title = translate(lang, "appName");
  }, [lang]);

  useEffect(() => {
    const onPop = (): void => setRoute(parseRoute(window.location.pathname, window.location.search));
    window.addEventListener("popstate", onPop);
    setUnauthorizedHandler(() => {
      setSession(null);
      setNotice(translate(lang, "sessionExpired"));
    });
    return () => window.removeEventListener("popstate", onPop);
  }, [lang]);

  useEffect(() => {
    me().then(setSession, (e: unknown) => {
      if (e instanceof ApiFailure && e.status === 401) setSession(null);
      else setBootError(e);
    });
  }, []);

  const navigate = useCallback((r: Route) => {
    window.history.pushState(null, "", pathOf(r));
    setRoute(r);
    window.scrollTo(0, 0);
  }, []);

  const chooseLang = (l: Lang): void => {
    setLang(l);
    try {
      window.localStorage.setItem(LANG_KEY, l);
    } catch {
      /* private mode: the choice lasts this page only */
    }
  };

  const ctx = useMemo<AppContext | null>(() => (session ? { session, lang, t, navigate } : null), [session, lang, t, navigate]);

  const langSwitch = (
    <select className="lang" aria-label={t("language")} value={lang} onChange={(e) => chooseLang(e.target.value as Lang)}>
      {LANGS.map((l) => (
        <option key={l} value={l}>
          {l === "zh-CN" ? "中文" : "English"}
        </option>
      ))}
    </select>
  );

  if (session === undefined) {
    return bootError ? <ErrorBox error={bootError} /> : <Loading text={t("loading")} />;
  }
  if (session === null || !ctx) {
    return (
      <>
        <div className="topright">{langSwitch}</div>
        <SignIn
          t={t}
          {...(notice ? { notice } : {})}
          onSignedIn={(s) => {
            setNotice(undefined);
            setSession(s);
            if (route.page === "signin") navigate({ page: "fleet" });
          }}
        />
      </>
    );
  }

  const isAdmin = can(session, "admin");
  const page = ((): ReactNode => {
    switch (route.page) {
      case "asset":
        return <AssetPage key={route.assetId} assetId={route.assetId} initialRange={route.range ?? "7d"} />;
      case "alerts":
        return <Alerts />;
      case "datasets":
        return <Datasets />;
      case "dataset":
        return (
          <Suspense fallback={<Loading text={t("loading")} />}>
            <DatasetsDetail key={route.datasetId} datasetId={route.datasetId} />
          </Suspense>
        );
      case "keys":
        return isAdmin ? <Keys /> : <Fleet />;
      default:
        return <Fleet />;
    }
  })();
  const link = (r: Route, key: MessageKey): ReactNode => (
    <a
      href={pathOf(r)}
      className={route.page === r.page || (r.page === "datasets" && route.page === "dataset") ? "active" : ""}
      onClick={(e) => {
        e.preventDefault();
        navigate(r);
      }}
    >
      {t(key)}
    </a>
  );

  return (
    <Ctx.Provider value={ctx}>
      <header>
        <strong className="brand">kilowatch</strong>
        <nav>
          {link({ page: "fleet" }, "fleet")}
          {link({ page: "datasets" }, "datasets")}
          {link({ page: "alerts" }, "alerts")}
          {isAdmin ? link({ page: "keys" }, "keys") : null}
        </nav>
        <span className="who" data-testid="who">
          {session.username} · {session.role}
        </span>
        {langSwitch}
        <button
          type="button"
          onClick={() => {
            // Signed out only when the API says so: the session cookie is HttpOnly, the page cannot drop it.
            logout().then(
              () => {
                setSignOutError(null);
                setSession(null);
                navigate({ page: "signin" });
              },
              setSignOutError,
            );
          }}
        >
          {t("signOut")}
        </button>
      </header>
      <main>
        <ErrorBox error={signOutError} />
        {page}
      </main>
    </Ctx.Provider>
  );
}
