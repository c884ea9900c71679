// Compare two or more runs: their curves overlaid, and their models' images of the same prompts from
// the same initial noises side by side.
import { useEffect, useState } from 'preact/hooks';
import { html, get, post, fileUrl, type Json } from '../api.ts';
import { Chart, seriesOf } from '../chart.ts';

export function ComparePage(props: { ids: number[] }) {
  const [data, setData] = useState<Json | null>(null);
  const [samples, setSamples] = useState<Json | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    get(`/api/compare?runs=${props.ids.join(',')}`).then(setData, (e) => setError(e.message));
  }, [props.ids.join(',')]);
  const sample = async () => {
    setError('');
    try {
      setSamples(await post('/api/samples', { ckpts: data.runs.map((r: Json) => r.run.outDir), prompts: 4 }));
    } catch (e) {
      setError((e as Error).message);
    }
  };
  if (props.ids.length < 2) return html`<section><h2>Compare</h2><p>Pick two or more runs on the <a href="#/">Runs</a> page.</p></section>`;
  if (!data) return html`<section>${error ? html`<p class="error">${error}</p>` : 'loading…'}</section>`;
  const curves = (key: string) => data.runs.map((r: Json) => seriesOf(r.metrics, key, `${r.run.id}: ${r.run.name}`));
  return html`<section>
    <h2>Compare runs ${props.ids.join(', ')}</h2>
    ${error && html`<p class="error">${error}</p>`}
    <div class="charts">
      <${Chart} title="loss" series=${curves('loss')}/>
      <${Chart} title="reward mean" series=${curves('rewardMean')}/>
      <${Chart} title="held-out score" series=${curves('heldOut')}/>
    </div>
    <p><button onClick=${sample}>Same prompts and noises, side by side</button></p>
    ${samples && html`<table class="grid"><thead><tr><th>prompt</th>${data.runs.map((r: Json) => html`<th>${r.run.name}</th>`)}</tr></thead>
      <tbody>${samples.rows.map((r: Json) => html`<tr><td>${r.prompt}</td>${r.images.map((i: string) => html`<td><img class="px" src=${fileUrl(i)}/></td>`)}</tr>`)}</tbody></table>`}
  </section>`;
}
