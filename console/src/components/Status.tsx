import type { ReactNode } from "react";
import { ApiFailure } from "../api/client";

/** An error as the API words it (its localized message and code), or the browser's own words. */
export function ErrorBox({ error }: { error: unknown }): ReactNode {
  if (!error) return null;
  const text = error instanceof ApiFailure ? `${error.message} (${error.code})` : error instanceof Error ? error.message : String(error);
  return (
    <div className="error" role="alert">
      {text}
    </div>
  );
}

export function Loading({ text }: { text: string }): ReactNode {
  return (
    <div className="loading" role="status" aria-busy="true">
      {text}
    </div>
  );
}

export function Empty({ text }: { text: string }): ReactNode {
  return <div className="empty">{text}</div>;
}
