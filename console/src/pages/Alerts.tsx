import { useEffect, useState, type FormEvent, type ReactNode } from "react";
import { can } from "../api/auth";
import { ApiFailure } from "../api/client";
import { getAlertConfig, putAlertConfig } from "../api/data";
import { episodesPage } from "../api/live";
import { FieldError } from "../components/FieldError";
import { Empty, ErrorBox, Loading } from "../components/Status";
import { useApp } from "../components/context";
import { ANOMALY_TYPES, FREQUENCIES, fieldErrorsFromApi, validateAlertForm, type AlertForm, type FieldErrors } from "../lib/forms";
import { formatNumber } from "../lib/chart";
import { pathOf } from "../lib/route";
import { useAsync } from "../lib/useAsync";
import { usePaged } from "../lib/usePaged";

const BLANK: AlertForm = { email: "", threshold: "0.995", frequency: "immediate", anomaly_types: [], enabled: true };

export function Alerts(): ReactNode {
  const { t, session } = useApp();
  const stored = useAsync(getAlertConfig, []);
  const [form, setForm] = useState<AlertForm>(BLANK);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const editable = can(session, "admin");

  useEffect(() => {
    const c = stored.data;
    if (c) setForm({ email: c.email, threshold: String(c.threshold), frequency: c.frequency, anomaly_types: [...c.types], enabled: c.enabled });
  }, [stored.data]);

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setSaved(false);
    setError(null);
    const v = validateAlertForm(form);
    if (!v.ok) {
      setErrors(v.errors);
      return;
    }
    setErrors({});
    try {
      await putAlertConfig(v.value);
      setSaved(true);
      stored.reload();
    } catch (err) {
      if (err instanceof ApiFailure) setErrors(fieldErrorsFromApi(err.details));
      setError(err);
    }
  };

  const toggle = (type: string): void =>
    setForm({ ...form, anomaly_types: form.anomaly_types.includes(type) ? form.anomaly_types.filter((x) => x !== type) : [...form.anomaly_types, type] });

  return (
    <section>
      <h2>{t("alertConfig")}</h2>
      {stored.loading && stored.data === undefined ? <Loading text={t("loading")} /> : null}
      {/* The form appears once the stored configuration is in: a late answer never overwrites typing. */}
      <ErrorBox error={stored.error} />
      {stored.data === null ? <p className="notice">{t("noAlertConfig")}</p> : null}
      {stored.data === undefined ? null : (
      <form className="panel form-grid" onSubmit={(e) => void submit(e)} noValidate aria-label={t("alertConfig")}>
        <fieldset disabled={!editable}>
          <label>
            {t("email")}
            <input name="email" type="email" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} />
            <FieldError errors={errors} name="email" t={t} />
          </label>
          <label>
            {t("threshold")}
            <input name="threshold" inputMode="decimal" value={form.threshold} onChange={(e) => setForm({ ...form, threshold: e.target.value })} />
            <FieldError errors={errors} name="threshold" t={t} />
          </label>
          <label>
            {t("frequency")}
            <select name="frequency" value={form.frequency} onChange={(e) => setForm({ ...form, frequency: e.target.value })}>
              {FREQUENCIES.map((f) => (
                <option key={f} value={f}>
                  {t(f)}
                </option>
              ))}
            </select>
            <FieldError errors={errors} name="frequency" t={t} />
          </label>
          <div>
            {t("anomalyTypes")}
            <div className="checks">
              {ANOMALY_TYPES.map((type) => (
                <label key={type} className="inline">
                  <input type="checkbox" name={`type-${type}`} checked={form.anomaly_types.includes(type)} onChange={() => toggle(type)} /> {type}
                </label>
              ))}
            </div>
          </div>
          <label className="inline">
            <input type="checkbox" name="enabled" checked={form.enabled} onChange={(e) => setForm({ ...form, enabled: e.target.checked })} /> {t("enabled")}
          </label>
          {editable ? <button type="submit">{t("save")}</button> : null}
          {saved ? (
            <span className="ok" role="status" data-testid="saved">
              {t("saved")}
            </span>
          ) : null}
          <ErrorBox error={error} />
        </fieldset>
      </form>
      )}
      <Episodes />
    </section>
  );
}

const when = (iso: string | null): string => (iso ? iso.slice(0, 16).replace("T", " ") : "–");

/** Recent alert episodes (every asset), newest first, a page at a time. */
function Episodes(): ReactNode {
  const { t, navigate } = useApp();
  const episodes = usePaged((cursor) => episodesPage(cursor), []);
  const items = episodes.items ?? [];
  return (
    <section className="panel" aria-label={t("recentEpisodes")}>
      <h3>{t("recentEpisodes")}</h3>
      <ErrorBox error={episodes.error} />
      {episodes.loading && !episodes.items ? <Loading text={t("loading")} /> : null}
      {episodes.items && !items.length ? <Empty text={t("empty")} /> : null}
      {items.length ? (
        <div className="table-wrap">
          <table data-testid="episodes">
            <thead>
              <tr>
                <th>{t("asset")}</th>
                <th>{t("openedAt")}</th>
                <th>{t("lastAnomalyAt")}</th>
                <th>{t("status")}</th>
                <th>{t("anomalyCount")}</th>
                <th>{t("maxScore")}</th>
                <th>{t("type")}</th>
                <th>{t("alerted")}</th>
              </tr>
            </thead>
            <tbody>
              {items.map((e) => (
                <tr key={e.episode_id} data-episode={e.episode_id} data-open={e.open}>
                  <td>
                    <a
                      href={pathOf({ page: "asset", assetId: e.asset_id })}
                      onClick={(ev) => {
                        ev.preventDefault();
                        navigate({ page: "asset", assetId: e.asset_id });
                      }}
                    >
                      {e.asset_id}
                    </a>
                  </td>
                  <td>{when(e.opened_at)}</td>
                  <td>{when(e.last_anomaly_at)}</td>
                  <td>
                    <span className={`badge ${e.open ? "active" : "retired"}`}>{e.open ? t("episodeOpen") : t("episodeClosed")}</span>
                  </td>
                  <td>{e.anomaly_count}</td>
                  <td>{formatNumber(e.max_score)}</td>
                  <td>
                    {e.types.map((type) => (
                      <span key={type} className={`badge ${type}`}>
                        {type}
                      </span>
                    ))}
                  </td>
                  <td>{e.alerted ? "✓" : "–"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {episodes.hasMore ? (
        <button type="button" disabled={episodes.loading} onClick={episodes.more}>
          {t("loadMore")}
        </button>
      ) : null}
    </section>
  );
}
