import { useCallback, useEffect, useState } from "react";

export interface AsyncState<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Start `load` (`loading` true until it settles): its answer goes to `onData` (the error cleared), its
 * failure to `setError`. The returned function drops a late answer (an effect's cleanup). */
export function startLoad<T>(load: () => Promise<T>, onData: (data: T) => void, setError: (error: unknown) => void, setLoading: (loading: boolean) => void): () => void {
  let live = true;
  setLoading(true);
  load().then(
    (d) => {
      if (!live) return;
      onData(d);
      setError(null);
      setLoading(false);
    },
    (e: unknown) => {
      if (!live) return;
      setError(e);
      setLoading(false);
    },
  );
  return () => {
    live = false;
  };
}

/** Run `load` when `deps` change (and on reload); the last answer wins. */
export function useAsync<T>(load: () => Promise<T>, deps: readonly unknown[]): AsyncState<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  useEffect(() => startLoad(load, setData, setError, setLoading), [...deps, tick]);
  const reload = useCallback(() => setTick((x) => x + 1), []);
  return { data, error, loading, reload };
}
