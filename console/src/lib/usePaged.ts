import { useCallback, useEffect, useRef, useState } from "react";
import type { PageOf } from "../api/live";

export interface Paged<T> {
  items: T[] | undefined; // undefined until the first page is in
  error: unknown;
  loading: boolean;
  hasMore: boolean;
  more: () => void;
}

/** A cursor-paged list: the first page when `deps` change, the next one on `more()`. An answer for
 * older `deps` is dropped (a search typed meanwhile wins). */
export function usePaged<T>(load: (cursor: string | null) => Promise<PageOf<T>>, deps: readonly unknown[]): Paged<T> {
  const [items, setItems] = useState<T[] | undefined>(undefined);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const generation = useRef(0);
  const loadRef = useRef(load);
  useEffect(() => {
    loadRef.current = load;
  });

  const fetchPage = useCallback((cursor: string | null, gen: number) => {
    setLoading(true);
    loadRef.current(cursor).then(
      (page) => {
        if (gen !== generation.current) return;
        setItems((prev) => (cursor && prev ? [...prev, ...page.items] : page.items));
        setNext(page.next);
        setError(null);
        setLoading(false);
      },
      (e: unknown) => {
        if (gen !== generation.current) return;
        setError(e);
        setLoading(false);
      },
    );
  }, []);

  useEffect(() => {
    generation.current += 1;
    fetchPage(null, generation.current);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);

  const more = useCallback(() => {
    if (next) fetchPage(next, generation.current);
  }, [next, fetchPage]);
  return { items, error, loading, hasMore: next !== null, more };
}
