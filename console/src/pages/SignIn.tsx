import { useState, type FormEvent, type ReactNode } from "react";
import { login, type Session } from "../api/auth";
import { ErrorBox } from "../components/Status";
import type { MessageKey } from "../lib/i18n";

export function SignIn({ t, onSignedIn, notice }: { t: (k: MessageKey) => string; onSignedIn: (s: Session) => void; notice?: string }): ReactNode {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await login(username.trim(), password));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="signin">
      <form onSubmit={(e) => void submit(e)} aria-label={t("signIn")}>
        <h1>{t("appName")}</h1>
        {notice ? <div className="notice">{notice}</div> : null}
        <label>
          {t("username")}
          <input name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required />
        </label>
        <label>
          {t("password")}
          <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
        </label>
        <button type="submit" disabled={busy}>
          {busy ? t("signingIn") : t("signIn")}
        </button>
        <ErrorBox error={error} />
      </form>
    </main>
  );
}
