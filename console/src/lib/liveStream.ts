// Following an asset's anomaly stream (Server-Sent Events) with reconnection. The browser's EventSource
// reconnects by itself after a dropped connection (sending Last-Event-ID); an answer that is not a
// stream (429, 503, a signed-out 401) closes it for good, so this reconnects then with a growing delay.

export const RETRY_BASE_MS = 1000;
export const RETRY_MAX_MS = 30_000;

/** Delay before reconnect attempt `n` (0-based): doubling from 1 s, at most 30 s. */
export function retryDelay(n: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, Math.min(n, 10)));
}

export type LiveState = "connecting" | "open" | "retrying";

export interface StreamHandlers {
  onAnomaly: (data: string, id: string) => void;
  /** The server dropped anomalies (a storm): read the list again. Also called on (re)connect. */
  onResync: () => void;
  onState: (s: LiveState) => void;
}

/** Open the stream made by `url(lastId)`; returns the function that closes it for good. */
export function followStream(url: (lastId: string | null) => string, h: StreamHandlers): () => void {
  let source: EventSource | null = null;
  let lastId: string | null = null;
  let attempt = 0;
  let timer: number | undefined;
  let stopped = false;
  const open = (): void => {
    if (stopped) return;
    h.onState("connecting");
    const es = new EventSource(url(lastId));
    source = es;
    es.onopen = () => {
      attempt = 0;
      h.onState("open");
      h.onResync(); // what was stored while no stream was open
    };
    es.addEventListener("anomaly", (e) => {
      const m = e as MessageEvent<string>;
      if (m.lastEventId) lastId = m.lastEventId;
      h.onAnomaly(m.data, m.lastEventId);
    });
    es.addEventListener("reset", () => {
      es.close();
      lastId = null;
      open();
    });
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        h.onState("retrying");
        timer = window.setTimeout(open, retryDelay(attempt++));
      } else {
        h.onState("retrying"); // the browser reconnects by itself
      }
    };
  };
  open();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
    source?.close();
  };
}
