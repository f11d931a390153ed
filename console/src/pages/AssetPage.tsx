import { Suspense, lazy, useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { can } from "../api/auth";
import { anomalies as fetchAnomalies, latestForecast, models, readings, type Anomaly, type Forecast } from "../api/data";
import { ApiFailure } from "../api/client";
import { anomalyStreamUrl, parseAnomalyEvent } from "../api/live";
import { ModelsPanel } from "../components/ModelsPanel";
import { Empty, ErrorBox, Loading } from "../components/Status";
import { TrainingPanel } from "../components/TrainingPanel";
import { useApp } from "../components/context";
import { formatNumber, mergeReadings, rangeBounds, shapeAssetChart, type RangeKey, type ReadingSeries } from "../lib/chart";
import { followStream, type LiveState } from "../lib/liveStream";
import { pathOf } from "../lib/route";
import { useAsync } from "../lib/useAsync";

// ECharts is most of the bundle: loaded with the first asset page, not with the sign-in or the fleet.
const AssetChart = lazy(() => import("../components/AssetChart").then((m) => ({ default: m.AssetChart })));

const RANGES: RangeKey[] = ["24h", "7d", "30d", "365d"];
const LIVE_EVERY_MS = 3000; // readings and the forecast (anomalies are pushed over their stream)
const LIVE_LOOKBACK_MS = 6 * 3_600_000; // a resync reads the anomalies of the last hours of readings

interface Loaded {
  series: ReadingSeries;
  truncated: boolean;
  from: number;
  anomalies: Map<string, Anomaly>;
  forecast: Forecast | null;
}

/** `cur` with the anomalies of `found` it lacks (those of its range), or `cur` itself when none is new. */
function withAnomalies(cur: Loaded, found: Anomaly[]): Loaded {
  let merged: Map<string, Anomaly> | null = null;
  for (const a of found) {
    if (cur.anomalies.has(a.event_id) || Date.parse(a.timestamp) < cur.from) continue;
    merged ??= new Map(cur.anomalies);
    merged.set(a.event_id, a);
  }
  return merged ? { ...cur, anomalies: merged } : cur;
}

async function loadRange(assetId: string, range: RangeKey): Promise<Loaded> {
  const newest = await readings(assetId, undefined, undefined, 1);
  const end = newest.timestamps[0] ?? Date.now();
  const { from, to } = rangeBounds(range, end);
  const [series, found, forecast] = await Promise.all([
    readings(assetId, new Date(from), new Date(to)),
    fetchAnomalies(assetId, new Date(from)),
    latestForecast(assetId),
  ]);
  return { series, truncated: series.truncated, from, anomalies: new Map(found.map((a) => [a.event_id, a])), forecast };
}

export function AssetPage({ assetId, initialRange }: { assetId: string; initialRange: RangeKey }): ReactNode {
  const { t, session, navigate } = useApp();
  const [range, setRange] = useState<RangeKey>(initialRange);
  const [live, setLive] = useState(true);
  const [state, setState] = useState<Loaded | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [liveError, setLiveError] = useState<unknown>(null);
  const [liveState, setLiveState] = useState<LiveState | null>(null);
  const versions = useAsync(() => models(assetId), [assetId]);
  const held = useRef<Loaded | null>(null);
  const liveRef = useRef(live);
  useEffect(() => {
    liveRef.current = live;
  }, [live]);
  useEffect(() => {
    held.current = state;
  }, [state]);

  // The first load; while it fails (e.g. 404 for an asset whose first readings are still on their
  // way, or a 503) and the page is live, it is tried again, the error shown meanwhile.
  useEffect(() => {
    let alive = true;
    let timer: number | undefined;
    setState(null);
    setError(null);
    const attempt = (): void => {
      loadRange(assetId, range).then(
        (s) => {
          if (!alive) return;
          setError(null);
          setState(s);
        },
        (e: unknown) => {
          if (!alive) return;
          setError(e);
          if (liveRef.current) timer = window.setTimeout(attempt, LIVE_EVERY_MS);
        },
      );
    };
    attempt();
    return () => {
      alive = false;
      window.clearTimeout(timer);
    };
  }, [assetId, range]);

  // Live: newer readings and the latest forecast while the page is open (anomalies: the stream below).
  const poll = useCallback(async () => {
    const cur = held.current;
    if (!cur) return;
    const last = cur.series.timestamps[cur.series.timestamps.length - 1];
    const since = last === undefined ? cur.from : last + 1;
    const [fresh, forecast] = await Promise.all([readings(assetId, new Date(since)), latestForecast(assetId)]);
    const now = held.current;
    if (!now || now.from !== cur.from) return; // the range changed meanwhile
    if (fresh.timestamps.length > 0 || forecast?.forecast_id !== now.forecast?.forecast_id) {
      setState({ ...now, series: mergeReadings(now.series, fresh, now.from), forecast });
    }
  }, [assetId]);

  // Live anomalies, pushed by the API as the results sink stores them (Server-Sent Events). On every
  // (re)connection the last hours are read once, for what was stored while no stream was open.
  const loaded = state !== null;
  useEffect(() => {
    if (!live || !loaded) {
      setLiveState(null);
      return;
    }
    const resync = (): void => {
      const cur = held.current;
      if (!cur) return;
      const last = cur.series.timestamps[cur.series.timestamps.length - 1] ?? cur.from;
      fetchAnomalies(assetId, new Date(Math.max(cur.from, last - LIVE_LOOKBACK_MS)), undefined, 1).then(
        (found) => setState((s) => (s && s.from === cur.from ? withAnomalies(s, found) : s)),
        setLiveError,
      );
    };
    return followStream((lastId) => anomalyStreamUrl(assetId, lastId), {
      onAnomaly: (data) => {
        const a = parseAnomalyEvent(data, assetId);
        if (a) setState((s) => (s ? withAnomalies(s, [a]) : s));
      },
      onResync: resync,
      onState: setLiveState,
    });
  }, [assetId, live, loaded, range]);

  useEffect(() => {
    if (!live) return;
    let stop = false;
    let timer: number | undefined;
    const tick = (): void => {
      poll()
        .then(() => setLiveError(null), setLiveError)
        .finally(() => {
          if (!stop) timer = window.setTimeout(tick, LIVE_EVERY_MS);
        });
    };
    timer = window.setTimeout(tick, LIVE_EVERY_MS);
    return () => {
      stop = true;
      window.clearTimeout(timer);
    };
  }, [live, poll]);

  const chartData = useMemo(
    () => (state ? shapeAssetChart(state.series, state.forecast?.points ?? null, [...state.anomalies.values()]) : null),
    [state],
  );
  const recent = useMemo(
    () => (state ? [...state.anomalies.values()].sort((a, b) => Date.parse(b.timestamp) - Date.parse(a.timestamp)).slice(0, 20) : []),
    [state],
  );
  const canModel = can(session, "model");
  // 404: no asset with this id yet (no reading has arrived and nobody registered it). Not an error on
  // this page: it fills in once the first readings arrive (the load is retried while live), and an
  // operator can upload readings or train from a dataset in the training panel below.
  const notYet = error instanceof ApiFailure && error.status === 404;

  return (
    <section>
      <p>
        <a
          href="../"
          onClick={(e) => {
            e.preventDefault();
            navigate({ page: "fleet" });
          }}
        >
          ← {t("fleet")}
        </a>
      </p>
      <h2 data-testid="asset-title">{assetId}</h2>
      <div className="toolbar">
        <span>{t("range")}:</span>
        {RANGES.map((r) => (
          <button key={r} type="button" className={r === range ? "selected" : ""} aria-pressed={r === range} onClick={() => {
              setRange(r);
              window.history.replaceState(null, "", pathOf({ page: "asset", assetId, range: r }));
            }}>
            {t(`range${r}` as "range24h")}
          </button>
        ))}
        <label className="inline">
          <input type="checkbox" checked={live} onChange={(e) => setLive(e.target.checked)} /> {t("live")}
        </label>
      </div>
      {liveState === "open" || liveState === "retrying" ? (
        <p className={liveState === "open" ? "muted" : "notice"} data-testid="live-state" data-state={liveState}>
          {liveState === "open" ? t("liveConnected") : t("liveReconnecting")}
        </p>
      ) : null}
      {notYet ? (
        <p className="notice" data-testid="asset-not-yet">
          {t("assetNotYet")} {canModel ? t("assetNotYetTrain") : null}
        </p>
      ) : (
        <ErrorBox error={error} />
      )}
      <ErrorBox error={liveError} />
      {!state && !error ? <Loading text={t("loading")} /> : null}
      {state && chartData ? (
        <>
          {!chartData.readings.length ? <Empty text={t("noReadings")} /> : null}
          <Suspense fallback={<Loading text={t("loading")} />}>
            <AssetChart data={chartData} />
          </Suspense>
          {state.truncated ? <p className="muted">max 100,000</p> : null}
          <h3>{t("recentAnomalies")}</h3>
          {!recent.length ? <Empty text={t("empty")} /> : null}
          {recent.length ? (
            <div className="table-wrap">
              <table data-testid="anomalies">
                <thead>
                  <tr>
                    <th>{t("type")}</th>
                    <th>UTC</th>
                    <th>{t("value")}</th>
                    <th>{t("expected")}</th>
                    <th>{t("score")}</th>
                    <th>{t("reason")}</th>
                  </tr>
                </thead>
                <tbody>
                  {recent.map((a) => (
                    <tr key={a.event_id} data-type={a.type}>
                      <td>
                        <span className={`badge ${a.type}`}>{a.type}</span>
                      </td>
                      <td>{a.timestamp.slice(0, 16).replace("T", " ")}</td>
                      <td>{formatNumber(a.value)}</td>
                      <td>{formatNumber(a.expected)}</td>
                      <td>{formatNumber(a.score)}</td>
                      <td>{a.reason}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : null}
        </>
      ) : null}
      <ErrorBox error={versions.error} />
      {versions.data ? <ModelsPanel assetId={assetId} versions={versions.data} canControl={canModel} onChanged={versions.reload} /> : null}
      {canModel ? <TrainingPanel assetId={assetId} canUpload={can(session, "write")} onTrained={versions.reload} /> : null}
    </section>
  );
}
