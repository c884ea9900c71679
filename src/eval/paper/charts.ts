// The paper report's charts: vega-lite specs (https://vega.github.io/vega-lite/) rendered to SVG in
// Node by vega's headless View (renderer 'none', no browser, no canvas). Each chart is written as
// NAME.svg with its spec beside it as NAME.vl.json, so a reader can re-render or restyle it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import * as vl from 'vega-lite';

export type Datum = Record<string, string | number | null>;

export interface Chart {
  name: string;
  title: string;
  spec: Record<string, unknown>;
}

const SIZE = { width: 420, height: 240 };

/** Lines of y against x, one per `series` value (optionally with points). */
export function lineChart(name: string, title: string, values: Datum[], enc: { x: string; y: string; series: string; xTitle: string; yTitle: string; xLog?: boolean }): Chart {
  return {
    name, title,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json', title, ...SIZE, data: { values },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: enc.x, type: 'quantitative', title: enc.xTitle, ...(enc.xLog ? { scale: { type: 'log', base: 2 } } : {}) },
        y: { field: enc.y, type: 'quantitative', title: enc.yTitle, scale: { zero: false } },
        color: { field: enc.series, type: 'nominal', title: null },
      },
    },
  };
}

/** A band (lo..hi) under a line (mean), one per series: Figure 6's reward mean with its best and worst. */
export function bandChart(name: string, title: string, values: Datum[], enc: { x: string; y: string; lo: string; hi: string; series: string; xTitle: string; yTitle: string }): Chart {
  const x = { field: enc.x, type: 'quantitative', title: enc.xTitle };
  const color = { field: enc.series, type: 'nominal', title: null };
  return {
    name, title,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json', title, ...SIZE, data: { values },
      layer: [
        { mark: { type: 'area', opacity: 0.2 }, encoding: { x, y: { field: enc.lo, type: 'quantitative', title: enc.yTitle, scale: { zero: false } }, y2: { field: enc.hi }, color } },
        { mark: 'line', encoding: { x, y: { field: enc.y, type: 'quantitative' }, color } },
      ],
    },
  };
}

/** Renders a chart to SVG text. */
export async function renderSvg(chart: Chart): Promise<string> {
  const compiled = vl.compile(chart.spec as unknown as vl.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Writes NAME.svg and NAME.vl.json into `dir`; returns the SVG. */
export async function writeChart(dir: string, chart: Chart): Promise<string> {
  const svg = await renderSvg(chart);
  writeFileSync(join(dir, `${chart.name}.svg`), svg);
  writeFileSync(join(dir, `${chart.name}.vl.json`), JSON.stringify(chart.spec, null, 2) + '\n');
  return svg;
}
