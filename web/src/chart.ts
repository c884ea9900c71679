// A line chart over uPlot: one or more series against the step, redrawn when the data change.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { html } from './api.ts';

const COLOURS = ['#4c78a8', '#e45756', '#54a24b', '#f58518', '#b279a2', '#72b7b2', '#9d755d', '#bab0ac'];

export interface Series {
  name: string;
  points: [number, number | null][];
}

/** Aligns series on the union of their steps (uPlot's data layout: x, then one column per series). */
function align(series: Series[]): uPlot.AlignedData {
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const cols = series.map((s) => {
    const m = new Map(s.points);
    return xs.map((x) => m.get(x) ?? null);
  });
  return [xs, ...cols] as uPlot.AlignedData;
}

export function Chart(props: { title: string; series: Series[]; id?: string }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const names = props.series.map((s) => s.name).join('|');
  useEffect(() => {
    if (!el.current) return;
    const opts: uPlot.Options = {
      title: props.title, width: 460, height: 220,
      scales: { x: { time: false } },
      series: [{ label: 'step' }, ...props.series.map((s, i) => ({ label: s.name, stroke: COLOURS[i % COLOURS.length], width: 1.6, spanGaps: true }))],
    };
    plot.current = new uPlot(opts, align(props.series), el.current);
    return () => plot.current?.destroy();
  }, [names, props.title]);
  useEffect(() => {
    plot.current?.setData(align(props.series));
  });
  const n = Math.max(0, ...props.series.map((s) => s.points.length));
  return html`<div class="chart" id=${props.id} data-points=${n} ref=${el}></div>`;
}

/** The series of one metric key from metric rows. */
export function seriesOf(rows: { step: number; key: string; value: number | null }[], key: string, name = key): Series {
  return { name, points: rows.filter((r) => r.key === key).map((r) => [r.step, r.value]) };
}
