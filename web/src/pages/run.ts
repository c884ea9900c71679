// A run: live curves over server-sent events while it trains (loss, reward mean/best/worst, the
// held-out score), its config, the images in its folder and sample grids of its model beside the base.
import { useEffect, useState } from 'preact/hooks';
import { html, get, post, fileUrl, fmt, duration, type Json } from '../api.ts';
import { Chart, seriesOf } from '../chart.ts';

type Row = { step: number; key: string; value: number | null };

/** The run's metric rows, kept up to date from its events stream. */
export function useLiveMetrics(id: number): { rows: Row[]; run: Json | null } {
  const [rows, setRows] = useState<Row[]>([]);
  const [run, setRun] = useState<Json | null>(null);
  useEffect(() => {
    setRows([]);
    const es = new EventSource(`/api/runs/${id}/events`);
    es.addEventListener('metrics', (e) => setRows((old) => [...old, ...(JSON.parse((e as MessageEvent).data) as Row[])]));
    es.addEventListener('status', (e) => setRun(JSON.parse((e as MessageEvent).data)));
    es.onerror = () => es.close();
    return () => es.close();
  }, [id]);
  return { rows, run };
}

export function RunPage(props: { id: number }) {
  const { rows, run: live } = useLiveMetrics(props.id);
  const [detail, setDetail] = useState<Json | null>(null);
  const [samples, setSamples] = useState<Json | null>(null);
  const [grids, setGrids] = useState<Json[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  useEffect(() => {
    get(`/api/runs/${props.id}`).then(setDetail, (e) => setError(e.message));
  }, [props.id, live?.status]);
  const run = live ?? detail?.run;
  const sample = async () => {
    setError('');
    try {
      setSamples(await post('/api/samples', { ckpts: ['checkpoints/base', run.outDir], prompts: 4 }));
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const makeGrids = async () => {
    setError('');
    setBusy(true);
    try {
      setGrids((await post(`/api/runs/${props.id}/grids`, { prompts: 4 })).grids);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  if (!run) return html`<section>${error ? html`<p class="error">${error}</p>` : 'loading…'}</section>`;
  // the newest numbers come with the events; the run's row only when its status changes
  const latest = (key: string) => rows.filter((r) => r.key === key && r.value !== null).at(-1)?.value ?? null;
  const step = rows.length ? rows.at(-1)!.step : run.step;
  const elapsed = latest('elapsedSec') ?? run.wallClockSec;
  return html`<section>
    <h2>Run ${run.id}: ${run.name} <span class=${`status ${run.status}`}>${run.status}</span></h2>
    <p class="run-info">${run.method} · step ${step}${run.steps ? ` of ${run.steps}` : ''} · reward ${fmt(latest('rewardMean') ?? run.reward)} · training ${duration(elapsed)}</p>
    ${error && html`<p class="error">${error}</p>`}
    <div class="charts">
      <${Chart} id="chart-loss" title="loss" series=${[seriesOf(rows, 'loss')]}/>
      <${Chart} id="chart-reward" title="reward" series=${[seriesOf(rows, 'rewardMean', 'mean'), seriesOf(rows, 'rewardBest', 'best'), seriesOf(rows, 'rewardWorst', 'worst')]}/>
      <${Chart} id="chart-heldout" title="held-out score" series=${[seriesOf(rows, 'heldOut')]}/>
    </div>
    <h3>Samples</h3>
    <p><button onClick=${makeGrids} disabled=${busy}>Sample grids per checkpoint</button>
      <button onClick=${sample}>Sample its model beside the base (same prompts and noises)</button></p>
    ${grids && html`<div class="images">${grids.map((g: Json) => html`<figure><img class="grid-img" src=${fileUrl(g.image)}/><figcaption>${g.step ? `step ${g.step}` : 'base'}</figcaption></figure>`)}</div>`}
    ${samples && html`<table class="grid"><thead><tr><th>prompt</th>${samples.ckpts.map((c: string) => html`<th>${c}</th>`)}</tr></thead>
      <tbody>${samples.rows.map((r: Json) => html`<tr><td>${r.prompt}</td>${r.images.map((i: string) => html`<td><img class="px" src=${fileUrl(i)}/></td>`)}</tr>`)}</tbody></table>`}
    ${detail?.images?.length > 0 && html`<div class="images">${detail.images.map((i: string) => html`<figure><img class="grid-img" src=${fileUrl(i)}/><figcaption>${i}</figcaption></figure>`)}</div>`}
    <h3>Config</h3>
    <pre class="config">${JSON.stringify(detail?.config ?? {}, null, 2)}</pre>
  </section>`;
}
