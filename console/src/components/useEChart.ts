import * as echarts from "echarts/core";
import { useEffect, useRef, type RefObject } from "react";

/** An ECharts instance on `el`'s element for the component's life: made once mounted, `setup` then runs
 * on it (event handlers), it follows the window's size, and it is disposed on unmount. */
export function useEChart(el: RefObject<HTMLDivElement | null>, setup?: (chart: echarts.ECharts) => void): RefObject<echarts.ECharts | null> {
  const chart = useRef<echarts.ECharts | null>(null);
  useEffect(() => {
    if (!el.current) return;
    const c = echarts.init(el.current);
    chart.current = c;
    setup?.(c);
    const resize = (): void => c.resize();
    window.addEventListener("resize", resize);
    return () => {
      window.removeEventListener("resize", resize);
      c.dispose();
      chart.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  return chart;
}
