import { BarChart, LineChart, PieChart } from "echarts/charts";
import { DataZoomComponent, GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";
import { useEffect, useRef, type ReactNode } from "react";
import { formatNumber } from "../lib/chart";

echarts.use([LineChart, BarChart, PieChart, GridComponent, TooltipComponent, LegendComponent, DataZoomComponent, CanvasRenderer]);

const HOURS = Array.from({ length: 24 }, (_, h) => `${h}`);
const valueFormatter = (v: unknown): string => (typeof v === "number" ? formatNumber(v) : String(v ?? "–"));

/** One ECharts canvas; the option is replaced whole when it changes, resized with the window. */
function EChart({ option, testId, label }: { option: echarts.EChartsCoreOption; testId: string; label: string }): ReactNode {
  const el = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  useEffect(() => {
    if (!el.current) return;
    const c = echarts.init(el.current);
    chart.current = c;
    const resize = (): void => c.resize();
    window.addEventListener("resize", resize);
    return () => {
      window.removeEventListener("resize", resize);
      c.dispose();
      chart.current = null;
    };
  }, []);
  useEffect(() => {
    chart.current?.setOption(option, { notMerge: true });
  }, [option]);
  return <div ref={el} className="chart chart-small" data-testid={testId} role="img" aria-label={label} />;
}

const grid = { left: 56, right: 16, top: 36, bottom: 32 };

/** Mean kWh of each hour of the day (24 points, gaps where the curve has no hour). */
export function HourCurveChart({ values, title, testId }: { values: (number | null)[]; title: string; testId: string }): ReactNode {
  return (
    <EChart
      testId={testId}
      label={title}
      option={{
        animation: false,
        grid,
        tooltip: { trigger: "axis", valueFormatter },
        xAxis: { type: "category", data: HOURS, name: "h" },
        yAxis: { type: "value", name: "kWh" },
        series: [{ name: title, type: "line", data: values, smooth: false, areaStyle: { opacity: 0.15 } }],
      }}
    />
  );
}

/** Daily totals as bars on a date axis. */
export function DailyChart({ days, title, testId }: { days: [string, number][]; title: string; testId: string }): ReactNode {
  return (
    <EChart
      testId={testId}
      label={title}
      option={{
        animation: false,
        grid,
        tooltip: { trigger: "axis", valueFormatter },
        xAxis: { type: "category", data: days.map((d) => d[0]) },
        yAxis: { type: "value", name: "kWh" },
        series: [{ name: title, type: "bar", data: days.map((d) => d[1]) }],
      }}
    />
  );
}

const PERIOD_COLORS: Record<string, string> = { peak: "#d9534f", flat: "#f0ad4e", valley: "#4e8fd9" };

/** Energy by tariff period. */
export function PeriodPieChart({ slices, title, testId }: { slices: { name: string; value: number; period: string }[]; title: string; testId: string }): ReactNode {
  return (
    <EChart
      testId={testId}
      label={title}
      option={{
        animation: false,
        tooltip: { trigger: "item", formatter: "{b}: {c} kWh ({d} %)" },
        legend: { bottom: 0 },
        series: [
          {
            name: title,
            type: "pie",
            radius: ["35%", "65%"],
            data: slices.map((s) => ({ name: s.name, value: Number(s.value.toFixed(3)), itemStyle: { color: PERIOD_COLORS[s.period] ?? "#888" } })),
          },
        ],
      }}
    />
  );
}

/** One line per load pattern: its centroid's kWh in each hour. */
export function PatternProfileChart({ series, title, testId }: { series: { name: string; data: (number | null)[] }[]; title: string; testId: string }): ReactNode {
  return (
    <EChart
      testId={testId}
      label={title}
      option={{
        animation: false,
        grid: { ...grid, top: 56 },
        legend: { top: 0, type: "scroll" },
        tooltip: { trigger: "axis", valueFormatter },
        xAxis: { type: "category", data: HOURS, name: "h" },
        yAxis: { type: "value", name: "kWh" },
        series: series.map((s) => ({ name: s.name, type: "line", data: s.data })),
      }}
    />
  );
}

/** Readings over time (kWh per interval; gaps where a value is missing), zoomable. */
export function ReadingsChart({ points, title, testId }: { points: [number, number | null][]; title: string; testId: string }): ReactNode {
  return (
    <EChart
      testId={testId}
      label={title}
      option={{
        animation: false,
        grid: { ...grid, bottom: 64 },
        tooltip: { trigger: "axis", valueFormatter },
        xAxis: { type: "time" },
        yAxis: { type: "value", name: "kWh" },
        dataZoom: [{ type: "inside" }, { type: "slider", height: 20, bottom: 8 }],
        series: [{ name: title, type: "line", data: points, showSymbol: false, connectNulls: false }],
      }}
    />
  );
}
