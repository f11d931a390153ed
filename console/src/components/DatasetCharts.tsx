import { BarChart, LineChart, PieChart } from "echarts/charts";
import { DataZoomComponent, GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";
import { useEffect, useRef, type ReactNode } from "react";
import { formatNumber } from "../lib/chart";
import { useEChart } from "./useEChart";

echarts.use([LineChart, BarChart, PieChart, GridComponent, TooltipComponent, LegendComponent, DataZoomComponent, CanvasRenderer]);

const HOURS = Array.from({ length: 24 }, (_, h) => `${h}`);
const valueFormatter = (v: unknown): string => (typeof v === "number" ? formatNumber(v) : String(v ?? "–"));

interface ChartProps {
  title: string;
  testId: string;
}

/** One ECharts canvas (no animation) labelled by its title; the option is replaced whole when it
 * changes, resized with the window. */
function EChart({ option, testId, title }: ChartProps & { option: echarts.EChartsCoreOption }): ReactNode {
  const el = useRef<HTMLDivElement>(null);
  const chart = useEChart(el);
  useEffect(() => {
    chart.current?.setOption({ animation: false, ...option }, { notMerge: true });
  }, [chart, option]); // chart: the same ref object on every render
  return <div ref={el} className="chart chart-small" data-testid={testId} role="img" aria-label={title} />;
}

const grid = { left: 56, right: 16, top: 36, bottom: 32 };
const hourAxis = (): object => ({ type: "category", data: HOURS, name: "h" });

/** A chart of kWh (value axis) over `xAxis`, the tooltip by axis; `extra` adds or replaces options. */
function KwhChart({ title, testId, xAxis, series, extra }: ChartProps & { xAxis: object; series: object[]; extra?: echarts.EChartsCoreOption }): ReactNode {
  const option = { grid, tooltip: { trigger: "axis", valueFormatter }, xAxis, yAxis: { type: "value", name: "kWh" }, series, ...extra };
  return <EChart title={title} testId={testId} option={option} />;
}

/** Mean kWh of each hour of the day (24 points, gaps where the curve has no hour). */
export function HourCurveChart({ values, title, testId }: ChartProps & { values: (number | null)[] }): ReactNode {
  return <KwhChart title={title} testId={testId} xAxis={hourAxis()} series={[{ name: title, type: "line", data: values, smooth: false, areaStyle: { opacity: 0.15 } }]} />;
}

/** Daily totals as bars on a date axis. */
export function DailyChart({ days, title, testId }: ChartProps & { days: [string, number][] }): ReactNode {
  return <KwhChart title={title} testId={testId} xAxis={{ type: "category", data: days.map((d) => d[0]) }} series={[{ name: title, type: "bar", data: days.map((d) => d[1]) }]} />;
}

const PERIOD_COLORS: Record<string, string> = { peak: "#d9534f", flat: "#f0ad4e", valley: "#4e8fd9" };

/** Energy by tariff period. */
export function PeriodPieChart({ slices, title, testId }: ChartProps & { slices: { name: string; value: number; period: string }[] }): ReactNode {
  const data = slices.map((s) => ({ name: s.name, value: Number(s.value.toFixed(3)), itemStyle: { color: PERIOD_COLORS[s.period] ?? "#888" } }));
  const option = {
    tooltip: { trigger: "item", formatter: "{b}: {c} kWh ({d} %)" },
    legend: { bottom: 0 },
    series: [{ name: title, type: "pie", radius: ["35%", "65%"], data }],
  };
  return <EChart title={title} testId={testId} option={option} />;
}

/** One line per load pattern: its centroid's kWh in each hour. */
export function PatternProfileChart({ series, title, testId }: ChartProps & { series: { name: string; data: (number | null)[] }[] }): ReactNode {
  return (
    <KwhChart
      title={title}
      testId={testId}
      xAxis={hourAxis()}
      series={series.map((s) => ({ name: s.name, type: "line", data: s.data }))}
      extra={{ grid: { ...grid, top: 56 }, legend: { top: 0, type: "scroll" } }}
    />
  );
}

/** Readings over time (kWh per interval; gaps where a value is missing), zoomable. */
export function ReadingsChart({ points, title, testId }: ChartProps & { points: [number, number | null][] }): ReactNode {
  return (
    <KwhChart
      title={title}
      testId={testId}
      xAxis={{ type: "time" }}
      series={[{ name: title, type: "line", data: points, showSymbol: false, connectNulls: false }]}
      extra={{ grid: { ...grid, bottom: 64 }, dataZoom: [{ type: "inside" }, { type: "slider", height: 20, bottom: 8 }] }}
    />
  );
}
