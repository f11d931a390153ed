import { LineChart, ScatterChart } from "echarts/charts";
import { DataZoomComponent, GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";
import { useEffect, useRef, type ReactNode } from "react";
import { ANOMALY_COLORS, ANOMALY_SYMBOLS, anomalyTooltip, formatNumber, type AnomalyMarker, type AssetChartData } from "../lib/chart";
import { useApp } from "./context";
import { useEChart } from "./useEChart";

echarts.use([LineChart, ScatterChart, GridComponent, TooltipComponent, LegendComponent, DataZoomComponent, CanvasRenderer]);

const MARKED = 100; // anomaly markers whose pixel position the chart element carries (data-markers)

const timeText = (ms: number): string => new Date(ms).toISOString().replace("T", " ").slice(0, 16) + " UTC";

export function AssetChart({ data }: { data: AssetChartData }): ReactNode {
  const { t } = useApp();
  const el = useRef<HTMLDivElement>(null);
  const shown = useRef<AssetChartData | null>(null);

  const chart = useEChart(el, (c) => {
    // Where the anomaly markers are drawn, in the element's pixels (after every render, zoom or resize):
    // the canvas has no DOM per marker, so a test or a tool finds one to hover here.
    c.on("finished", () => {
      const node = el.current;
      const d = shown.current;
      if (!node || !d) return;
      const points = Object.values(d.anomalies)
        .flat()
        .slice(0, MARKED)
        .flatMap((m) => {
          const p = c.convertToPixel({ gridIndex: 0 }, m.value) as number[] | undefined;
          return p && Number.isFinite(p[0]) && Number.isFinite(p[1]) ? [[Math.round(p[0] ?? 0), Math.round(p[1] ?? 0)]] : [];
        });
      const text = JSON.stringify(points);
      if (node.dataset.markers !== text) node.dataset.markers = text;
    });
  });

  useEffect(() => {
    const c = chart.current;
    if (!c) return;
    shown.current = data;
    const labels = { value: t("value"), expected: t("expected"), score: t("score") };
    const anomalySeries = Object.entries(data.anomalies).map(([type, markers]) => ({
      name: type,
      type: "scatter" as const,
      data: markers.map((m) => ({ value: m.value, marker: m })),
      symbol: ANOMALY_SYMBOLS[type] ?? "circle",
      symbolSize: 12,
      itemStyle: { color: ANOMALY_COLORS[type] ?? "#000" },
      z: 5,
      tooltip: {
        trigger: "item" as const,
        formatter: (p: unknown) => {
          const m = (p as { data?: { marker?: AnomalyMarker } }).data?.marker;
          return m ? anomalyTooltip(m, labels, timeText(m.value[0])) : "";
        },
      },
    }));
    c.setOption(
      {
        animation: false,
        grid: { left: 56, right: 16, top: 40, bottom: 64 },
        legend: { top: 0, type: "scroll", data: [t("readings"), t("band"), t("forecast"), ...Object.keys(data.anomalies)] },
        tooltip: {
          trigger: "axis",
          valueFormatter: (v: unknown) => (typeof v === "number" ? formatNumber(v) : String(v)),
        },
        xAxis: { type: "time" },
        yAxis: { type: "value", scale: true },
        dataZoom: [{ type: "inside" }, { type: "slider", height: 20, bottom: 8 }],
        series: [
          { name: t("readings"), type: "line", data: data.readings, showSymbol: false, sampling: "lttb", lineStyle: { width: 1 }, large: true },
          { name: "band-base", type: "line", data: data.bandLower, stack: "band", lineStyle: { opacity: 0 }, showSymbol: false, tooltip: { show: false } },
          {
            name: t("band"),
            type: "line",
            data: data.bandWidth,
            stack: "band",
            lineStyle: { opacity: 0 },
            areaStyle: { color: "rgba(44, 160, 44, 0.2)" },
            showSymbol: false,
            tooltip: { show: false },
          },
          { name: t("forecast"), type: "line", data: data.forecast, showSymbol: false, lineStyle: { type: "dashed", color: "#2ca02c" } },
          ...anomalySeries,
        ],
      },
      { replaceMerge: ["series"] },
    );
  }, [chart, data, t]); // chart: the same ref object on every render

  const counts = Object.entries(data.anomalies)
    .map(([k, v]) => `${k}:${v.length}`)
    .join(",");
  return (
    <div
      ref={el}
      className="chart"
      data-testid="asset-chart"
      data-readings={data.readings.length}
      data-forecast={data.forecast.length}
      data-anomalies={counts}
    />
  );
}
