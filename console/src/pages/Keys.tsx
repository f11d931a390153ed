import { useState, type FormEvent, type ReactNode } from "react";
import { ApiFailure } from "../api/client";
import { createKey, createUser, deleteUser, listKeys, listUsers, revokeKey, type ApiKeyCreated } from "../api/data";
import { FieldError } from "../components/FieldError";
import { Empty, ErrorBox, Loading } from "../components/Status";
import { useApp } from "../components/context";
import { KEY_SCOPES, fieldErrorsFromApi, validateKeyForm, type FieldErrors } from "../lib/forms";
import { useAsync } from "../lib/useAsync";

const SHOWN = 25; // newest first; the rest behind a button

function KeysSection(): ReactNode {
  const { t } = useApp();
  const keys = useAsync(listKeys, []);
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<string[]>(["read"]);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  const [showAll, setShowAll] = useState(false);
  const sorted = [...(keys.data ?? [])].sort((a, b) => b.created_at.localeCompare(a.created_at));
  const shown = showAll ? sorted : sorted.slice(0, SHOWN);

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setError(null);
    const v = validateKeyForm(name, scopes);
    if (!v.ok) {
      setErrors(v.errors);
      return;
    }
    setErrors({});
    try {
      setCreated(await createKey({ name: v.value.name, scopes: v.value.scopes as ("read" | "write" | "model" | "admin")[], rate_limit: null }));
      setName("");
      keys.reload();
    } catch (err) {
      if (err instanceof ApiFailure) setErrors(fieldErrorsFromApi(err.details));
      setError(err);
    }
  };

  return (
    <section className="panel">
      <h3>{t("apiKeys")}</h3>
      <form className="form-row" onSubmit={(e) => void submit(e)} aria-label={t("createKey")}>
        <label>
          {t("name")}
          <input name="key-name" value={name} onChange={(e) => setName(e.target.value)} />
          <FieldError errors={errors} name="name" t={t} />
        </label>
        <span className="checks">
          {KEY_SCOPES.map((s) => (
            <label key={s} className="inline">
              <input
                type="checkbox"
                name={`scope-${s}`}
                checked={scopes.includes(s)}
                onChange={() => setScopes(scopes.includes(s) ? scopes.filter((x) => x !== s) : [...scopes, s])}
              />{" "}
              {s}
            </label>
          ))}
          <FieldError errors={errors} name="scopes" t={t} />
        </span>
        <button type="submit">{t("createKey")}</button>
      </form>
      <ErrorBox error={error} />
      {created ? (
        <div className="notice" data-testid="new-key">
          {t("keyShownOnce")}
          <pre>{created.key}</pre>
        </div>
      ) : null}
      <ErrorBox error={keys.error} />
      {keys.loading && !keys.data ? <Loading text={t("loading")} /> : null}
      {keys.data && !keys.data.length ? <Empty text={t("empty")} /> : null}
      {keys.data?.length ? (
        <div className="table-wrap">
          <table data-testid="keys">
            <thead>
              <tr>
                <th>{t("name")}</th>
                <th>prefix</th>
                <th>{t("scopes")}</th>
                <th>{t("created")}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {shown.map((k) => (
                <tr key={k.id} data-prefix={k.prefix} data-revoked={k.revoked_at ? "yes" : "no"}>
                  <td>{k.name}</td>
                  <td>
                    <code>{k.prefix}</code>
                  </td>
                  <td>{k.scopes.join(", ")}</td>
                  <td>{k.created_at.slice(0, 16).replace("T", " ")}</td>
                  <td>
                    {k.revoked_at ? (
                      <span className="muted">{t("revoked")}</span>
                    ) : (
                      <button type="button" onClick={() => revokeKey(k.id).then(keys.reload, setError)}>
                        {t("revoke")}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {sorted.length > shown.length ? (
            <button type="button" className="link" onClick={() => setShowAll(true)}>
              {t("showAll")} ({sorted.length})
            </button>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}

function UsersSection(): ReactNode {
  const { t, session } = useApp();
  const users = useAsync(listUsers, []);
  const [username, setUsername] = useState("");
  const [role, setRole] = useState("viewer");
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState<unknown>(null);

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setError(null);
    setErrors({});
    try {
      await createUser(username.trim(), role, password);
      setUsername("");
      setPassword("");
      users.reload();
    } catch (err) {
      if (err instanceof ApiFailure) setErrors(fieldErrorsFromApi(err.details));
      setError(err);
    }
  };

  return (
    <section className="panel">
      <h3>{t("users")}</h3>
      <form className="form-row" onSubmit={(e) => void submit(e)} aria-label={t("createUser")}>
        <label>
          {t("username")}
          <input name="new-username" autoComplete="off" value={username} onChange={(e) => setUsername(e.target.value)} />
          <FieldError errors={errors} name="username" t={t} />
        </label>
        <label>
          {t("role")}
          <select name="role" value={role} onChange={(e) => setRole(e.target.value)}>
            {["viewer", "operator", "admin"].map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t("password")}
          <input name="new-password" type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />
          <FieldError errors={errors} name="password" t={t} />
        </label>
        <button type="submit">{t("createUser")}</button>
      </form>
      <ErrorBox error={error} />
      <ErrorBox error={users.error} />
      {users.loading && !users.data ? <Loading text={t("loading")} /> : null}
      {users.data?.length ? (
        <div className="table-wrap">
          <table data-testid="users">
            <thead>
              <tr>
                <th>{t("username")}</th>
                <th>{t("role")}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {users.data.map((u) => (
                <tr key={u.username}>
                  <td>{u.username}</td>
                  <td>{u.role}</td>
                  <td>
                    {u.username !== session.username ? (
                      <button type="button" onClick={() => deleteUser(u.username).then(users.reload, setError)}>
                        {t("delete")}
                      </button>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

export function Keys(): ReactNode {
  const { t } = useApp();
  return (
    <section>
      <h2>{t("keys")}</h2>
      <KeysSection />
      <UsersSection />
    </section>
  );
}
