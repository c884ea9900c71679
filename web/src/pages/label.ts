// Label: two images of one prompt, answered A better / B better / tie / skip by mouse or keyboard
// (1, 2, t, s), with a running count and the agreement with the preference model. Pairs come from a
// pool: a checkpoint's samples, or the pairs where a preference model is least sure.
import { useEffect, useRef, useState } from 'preact/hooks';
import { html, get, post, fileUrl, annotator, setAnnotator, type Json } from '../api.ts';

function NewPool(props: { onMade: (id: string) => void }) {
  const [ckpts, setCkpts] = useState<Json[]>([]);
  const [f, setF] = useState({ ckpt: 'checkpoints/base', prompts: 8, perPrompt: 2, preference: '', rank: 'samples' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  useEffect(() => {
    get('/api/checkpoints').then((r) => setCkpts(r.checkpoints), () => {});
  }, []);
  const set = (k: string) => (e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value });
  const make = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const r = await post('/api/pools', { ckpt: f.ckpt, prompts: Number(f.prompts), perPrompt: Number(f.perPrompt), rank: f.rank, ...(f.preference ? { preference: f.preference } : {}) });
      props.onMade(r.pool.id);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const of = (format: string) => ckpts.filter((c) => c.format === format);
  return html`<form class="form" onSubmit=${make}>
    <label>checkpoint <select name="ckpt" value=${f.ckpt} onChange=${set('ckpt')}>${of('sharpen-t2i/1').map((c) => html`<option value=${c.path}>${c.name}</option>`)}</select></label>
    <label>prompts <input name="prompts" type="number" min="1" value=${f.prompts} onInput=${set('prompts')}/></label>
    <label>images per prompt <input name="perPrompt" type="number" min="2" max="8" value=${f.perPrompt} onInput=${set('perPrompt')}/></label>
    <label>preference model <select name="preference" value=${f.preference} onChange=${set('preference')}><option value="">(none)</option>${of('sharpen-preference/1').map((c) => html`<option value=${c.path}>${c.name}</option>`)}</select></label>
    <label>order <select name="rank" value=${f.rank} onChange=${set('rank')}><option value="samples">as sampled</option><option value="uncertain">least sure first</option></select></label>
    <button type="submit" disabled=${busy}>${busy ? 'Sampling…' : 'Make pairs'}</button>
    ${error && html`<span class="error">${error}</span>`}
  </form>`;
}

export function LabelPage() {
  const [pools, setPools] = useState<Json[]>([]);
  const [pool, setPool] = useState('');
  const [pair, setPair] = useState<Json | null>(null);
  const [left, setLeft] = useState(0);
  const [summary, setSummary] = useState<Json | null>(null);
  const [who, setWho] = useState(annotator());
  const [message, setMessage] = useState('');
  const loadPools = (select?: string) => get('/api/pools').then((r) => {
    setPools(r.pools);
    if (select || (!pool && r.pools[0])) setPool(select ?? r.pools[0].id);
  });
  useEffect(() => {
    loadPools();
    get('/api/labels').then(setSummary, () => {});
  }, []);
  const next = () => pool && get(`/api/pools/${pool}/next`).then((r) => {
    setPair(r.pair);
    setLeft(r.left);
  });
  useEffect(() => {
    next();
  }, [pool]);
  // one answer at a time: a key pressed again before the next pair is shown is ignored
  const sending = useRef(false);
  const answer = async (choice: string) => {
    if (!pair || sending.current) return;
    sending.current = true;
    try {
      const counts = await post('/api/labels', { pool, pair: pair.id, choice, annotator: who });
      await next();
      setSummary(counts); // after the next pair is in: a count on the page means the page takes the next answer
      void loadPools(pool);
    } catch (e) {
      setMessage((e as Error).message);
    } finally {
      sending.current = false;
    }
  };
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.target as HTMLElement).tagName === 'INPUT' || (e.target as HTMLElement).tagName === 'SELECT') return;
      const choice = ({ '1': 'A', '2': 'B', t: 'tie', s: 'skip' } as Record<string, string>)[e.key];
      if (choice) {
        e.preventDefault();
        void answer(choice);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });
  const exportLabels = () => post('/api/labels/export', { out: 'runs/labels' }).then((r) => setMessage(`${r.pairs} pairs written to ${r.file}`), (e) => setMessage(e.message));
  const c = summary?.counts;
  return html`<section>
    <h2>Label</h2>
    <p class="row"><label>you are <input name="annotator" size="12" value=${who} onInput=${(e: Event) => {
      const v = (e.target as HTMLInputElement).value;
      setWho(v);
      setAnnotator(v);
    }}/></label>
    <label>pairs <select name="pool" value=${pool} onChange=${(e: Event) => setPool((e.target as HTMLSelectElement).value)}>${pools.map((p) => html`<option value=${p.id}>${p.id} · ${p.ckpt} · ${p.rank} · ${p.answered}/${p.pairs}</option>`)}</select></label></p>
    <details><summary>New pairs</summary><${NewPool} onMade=${(id: string) => loadPools(id)}/></details>
    ${pair ? html`<div class="pair">
      <p class="prompt">${pair.prompt}</p>
      <div class="sides">
        <figure><img class="px big" src=${fileUrl(pair.imageA)} onClick=${() => answer('A')}/><figcaption>A (1)</figcaption></figure>
        <figure><img class="px big" src=${fileUrl(pair.imageB)} onClick=${() => answer('B')}/><figcaption>B (2)</figcaption></figure>
      </div>
      <p class="buttons"><button onClick=${() => answer('A')}>A is better (1)</button> <button onClick=${() => answer('B')}>B is better (2)</button>
        <button onClick=${() => answer('tie')}>Tie (t)</button> <button onClick=${() => answer('skip')}>Skip (s)</button></p>
      <p>${left} pairs left in this pool</p>
    </div>` : html`<p>${pool ? 'Every pair of this pool is answered.' : 'No pairs yet: make some below "New pairs".'}</p>`}
    ${c && html`<p class="counts">labels: <b class="total">${c.total}</b> (A ${c.A}, B ${c.B}, tie ${c.tie}, skip ${c.skip})
      · agreement with the preference model: ${summary.agreement.rate === null ? '–' : `${(100 * summary.agreement.rate).toFixed(0)} % of ${summary.agreement.decided}`}</p>`}
    <p><button onClick=${exportLabels}>Export labels (runs/labels/pairs.jsonl)</button> ${message}</p>
  </section>`;
}
