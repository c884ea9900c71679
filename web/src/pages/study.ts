// User study: a blind comparison of two or more checkpoints. Each prompt and initial noise is shown
// as two images in a random order with no names; the answers give win / tie / loss per pair with
// 95 % intervals, as a table and a chart (exported as Markdown, CSV and SVG).
import { useEffect, useRef, useState } from 'preact/hooks';
import { html, get, post, annotator, type Json } from '../api.ts';

export function StudyPage(props: { id: string | null }) {
  const [ckpts, setCkpts] = useState<Json[]>([]);
  const [picked, setPicked] = useState<string[]>([]);
  const [prompts, setPrompts] = useState(8);
  const [cmp, setCmp] = useState<Json | null>(null);
  const [left, setLeft] = useState(0);
  const [results, setResults] = useState<Json | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  useEffect(() => {
    get('/api/checkpoints').then((r) => setCkpts(r.checkpoints.filter((c: Json) => c.format === 'sharpen-t2i/1')), () => {});
  }, []);
  const next = () => props.id && get(`/api/studies/${props.id}/next`).then((r) => {
    setCmp(r.comparison);
    setLeft(r.left);
    if (!r.comparison) get(`/api/studies/${props.id}/results`).then(setResults);
  });
  useEffect(() => {
    setResults(null);
    next();
  }, [props.id]);
  const create = async () => {
    setBusy(true);
    setError('');
    try {
      const r = await post('/api/studies', { ckpts: picked, prompts });
      location.hash = `#/study/${r.study.id}`;
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  // one answer at a time: a key pressed again before the next comparison is shown is ignored
  const sending = useRef(false);
  const answer = async (choice: string) => {
    if (!cmp || sending.current) return;
    sending.current = true;
    try {
      await post(`/api/studies/${props.id}/answer`, { comparison: cmp.id, choice, annotator: annotator() });
      await next();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      sending.current = false;
    }
  };
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.target as HTMLElement).tagName === 'INPUT') return;
      const choice = ({ '1': 'left', '2': 'right', t: 'tie' } as Record<string, string>)[e.key];
      if (choice && cmp) void answer(choice);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });
  const toggle = (p: string) => setPicked(picked.includes(p) ? picked.filter((x) => x !== p) : [...picked, p]);
  const pct = (v: number) => `${(100 * v).toFixed(0)} %`;
  const ci = (c: [number, number]) => `[${(100 * c[0]).toFixed(0)}, ${(100 * c[1]).toFixed(0)}]`;
  return html`<section>
    <h2>User study</h2>
    ${error && html`<p class="error">${error}</p>`}
    ${!props.id && html`<div class="form">
      <p>Pick two or more checkpoints; each prompt and noise goes through all of them, and you judge every two blind.</p>
      ${ckpts.map((c) => html`<label class="check"><input type="checkbox" name="study-ckpt" value=${c.path} checked=${picked.includes(c.path)} onChange=${() => toggle(c.path)}/> ${c.name}</label>`)}
      <label>prompts <input name="prompts" type="number" min="1" value=${prompts} onInput=${(e: Event) => setPrompts(Number((e.target as HTMLInputElement).value))}/></label>
      <button disabled=${picked.length < 2 || busy} onClick=${create}>${busy ? 'Sampling…' : 'Start the study'}</button>
    </div>`}
    ${props.id && cmp && html`<div class="pair">
      <p class="prompt">${cmp.prompt}</p>
      <div class="sides">
        <figure><img class="px big" src=${cmp.left} onClick=${() => answer('left')}/><figcaption>left (1)</figcaption></figure>
        <figure><img class="px big" src=${cmp.right} onClick=${() => answer('right')}/><figcaption>right (2)</figcaption></figure>
      </div>
      <p class="buttons"><button onClick=${() => answer('left')}>Left is better (1)</button> <button onClick=${() => answer('tie')}>Tie (t)</button> <button onClick=${() => answer('right')}>Right is better (2)</button></p>
      <p>${left} comparisons left</p>
    </div>`}
    ${results && html`<div class="results">
      <table class="study"><thead><tr><th>x</th><th>y</th><th>answers</th><th>x wins [95 % CI]</th><th>tie</th><th>y wins</th></tr></thead>
      <tbody>${results.results.map((r: Json) => html`<tr><td>${r.x}</td><td>${r.y}</td><td>${r.n}</td><td>${pct(r.winRate)} ${ci(r.winCI)}</td><td>${pct(r.tieRate)} ${ci(r.tieCI)}</td><td>${pct(r.lossRate)} ${ci(r.lossCI)}</td></tr>`)}</tbody></table>
      <img class="chart-svg" src=${`/api/studies/${props.id}/results?format=svg`}/>
      <p>Export: <a href=${`/api/studies/${props.id}/results?format=md`}>Markdown</a> · <a href=${`/api/studies/${props.id}/results?format=csv`}>CSV</a> · <a href=${`/api/studies/${props.id}/results?format=svg`}>SVG chart</a></p>
    </div>`}
  </section>`;
}
