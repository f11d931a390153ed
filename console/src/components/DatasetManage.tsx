import { useState, type FormEvent, type ReactNode } from "react";
import { ApiFailure } from "../api/client";
import { deleteDataset, patchDataset, type Dataset } from "../api/datasets";
import { apiFieldErrors, validatePatch } from "../lib/datasets";
import type { MessageKey } from "../lib/i18n";
import { ShownError, type ShownErrors } from "./PeriodFields";
import { ErrorBox } from "./Status";
import { useApp } from "./context";

const ERROR_TEXT: Record<string, MessageKey> = { nameLength: "errNameLength", zoneName: "errZoneName" };

/** Rename, re-zone (PATCH) and delete a dataset (write scope). Deleting asks once more, on the page. */
export function DatasetManage({ dataset, onChanged, onDeleted }: { dataset: Dataset; onChanged: () => void; onDeleted: () => void }): ReactNode {
  const { t } = useApp();
  const [name, setName] = useState(dataset.name);
  const [timezone, setTimezone] = useState(dataset.timezone);
  const [errors, setErrors] = useState<ShownErrors>({});
  const [error, setError] = useState<unknown>(null);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);

  const fail = (e: unknown): void => {
    setBusy(false);
    setError(e);
    if (e instanceof ApiFailure) setErrors(apiFieldErrors(e.details));
  };

  const save = (e: FormEvent): void => {
    e.preventDefault();
    setError(null);
    const v = validatePatch({ name, timezone }, dataset);
    if (!v.ok) {
      setErrors(Object.fromEntries(Object.entries(v.errors).map(([f, code]) => [f, t(ERROR_TEXT[code] ?? "errBadChoice")])));
      return;
    }
    setErrors({});
    if (!v.body) return;
    setBusy(true);
    patchDataset(dataset.id, v.body).then(() => {
      setBusy(false);
      onChanged();
    }, fail);
  };

  return (
    <details className="panel" data-testid="dataset-manage">
      <summary>{t("dsManage")}</summary>
      <form className="form-row" onSubmit={save} noValidate aria-label={t("dsManage")}>
        <label>
          {t("name")}
          <input name="dataset-name" maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />
          <ShownError errors={errors} name="name" />
        </label>
        <label>
          {t("dsZone")}
          <input name="dataset-timezone" value={timezone} onChange={(e) => setTimezone(e.target.value)} />
          <ShownError errors={errors} name="timezone" />
        </label>
        <button type="submit" disabled={busy}>
          {t("save")}
        </button>
        <p className="muted hint">{t("dsRezoneNote")}</p>
      </form>
      <div className="form-row">
        {confirming ? (
          <button
            type="button"
            className="danger"
            disabled={busy}
            onClick={() => {
              setBusy(true);
              deleteDataset(dataset.id).then(onDeleted, fail);
            }}
          >
            {t("dsConfirmDelete")}
          </button>
        ) : (
          <button type="button" className="danger" onClick={() => setConfirming(true)}>
            {t("dsDelete")}
          </button>
        )}
      </div>
      <ErrorBox error={error} />
    </details>
  );
}
