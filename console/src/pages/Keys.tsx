import { useState, type FormEvent, type ReactNode } from "react";
import { ApiFailure } from "../api/client";
import { createKey, createUser, deleteUser, listKeys, listUsers, revokeKey, type ApiKey, type ApiKeyCreated, type User } from "../api/data";
import { FieldError } from "../components/FieldError";
import { ListTable, type Column } from "../components/ListTable";
import { ErrorBox } from "../components/Status";
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
  const keyColumns: Column<ApiKey>[] = [
    { header: t("name"), cell: (k) => k.name },
    { header: "prefix", cell: (k) => <code>{k.prefix}</code> },
    { header: t("scopes"), cell: (k) => k.scopes.join(", ") },
    { header: t("created"), cell: (k) => k.created_at.slice(0, 16).replace("T", " ") },
    {
      header: "",
      cell: (k) =>
        k.revoked_at ? (
          <span className="muted">{t("revoked")}</span>
        ) : (
          <button type="button" onClick={() => revokeKey(k.id).then(keys.reload, setError)}>
            {t("revoke")}
          </button>
        ),
    },
  ];

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
      <ListTable
        rows={keys.data ? shown : undefined}
        columns={keyColumns}
        rowKey={(k) => k.id}
        rowProps={(k) => ({ "data-prefix": k.prefix, "data-revoked": k.revoked_at ? "yes" : "no" })}
        testId="keys"
        loading={keys.loading}
        error={keys.error}
        footer={
          sorted.length > shown.length ? (
            <button type="button" className="link" onClick={() => setShowAll(true)}>
              {t("showAll")} ({sorted.length})
            </button>
          ) : null
        }
      />
    </section>
  );
}

function UsersSection(): ReactNode {
  const { t, session } = useApp();
  const users = useAsync(listUsers, []);
  const [username, setUsername] = useState("");
  const [role, setRole] = useState("viewer");
  const [password, setPassword] = useState("");
  const userColumns: Column<User>[] = [
    { header: t("username"), cell: (u) => u.username },
    { header: t("role"), cell: (u) => u.role },
    {
      header: "",
      cell: (u) =>
        u.username !== session.username ? (
          <button type="button" onClick={() => deleteUser(u.username).then(users.reload, setError)}>
            {t("delete")}
          </button>
        ) : null,
    },
  ];
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
      <ListTable
        rows={users.data}
        columns={userColumns}
        rowKey={(u) => u.username}
        testId="users"
        loading={users.loading}
        error={users.error}
      />
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
