// Generate: prompt, checkpoint, sampler, steps, guidance and inference-time method → images, with
// their NFE and time.
import { useEffect, useState } from 'preact/hooks';
import { html, get, post, fileUrl, type Json } from '../api.ts';

const METHODS = ['plain', 'best-of-n', 'zero-order', 'demon', 'free2guide'];

export function GeneratePage() {
  const [ckpts, setCkpts] = useState<Json[]>([]);
  const [f, setF] = useState({ ckpt: 'checkpoints/base', prompt: 'a red circle above a blue square', n: 4, scheduler: 'ddim', steps: 20, guidance: 2, method: 'plain', reward: '', budgetNfe: '', seed: 0 });
  const [result, setResult] = useState<Json | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  useEffect(() => {
    get('/api/checkpoints').then((r) => setCkpts(r.checkpoints.filter((c: Json) => c.format === 'sharpen-t2i/1')), (e) => setError(e.message));
  }, []);
  const set = (k: string) => (e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value });
  const run = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      setResult(await post('/api/generate', {
        ckpt: f.ckpt, prompt: f.prompt, n: Number(f.n), scheduler: f.scheduler, steps: Number(f.steps), guidance: Number(f.guidance), method: f.method,
        seed: Number(f.seed), ...(f.reward ? { reward: f.reward } : {}), ...(f.budgetNfe ? { budgetNfe: Number(f.budgetNfe) } : {}),
      }));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return html`<section>
    <h2>Generate</h2>
    <form class="form" onSubmit=${run}>
      <label>checkpoint <select name="ckpt" value=${f.ckpt} onChange=${set('ckpt')}>${ckpts.map((c) => html`<option value=${c.path}>${c.name} (${c.path})</option>`)}</select></label>
      <label>prompt <input name="prompt" size="48" value=${f.prompt} onInput=${set('prompt')}/></label>
      <label>images <input name="n" type="number" min="1" max="64" value=${f.n} onInput=${set('n')}/></label>
      <label>sampler <select name="scheduler" value=${f.scheduler} onChange=${set('scheduler')}><option>ddim</option><option>ddpm</option></select></label>
      <label>steps <input name="steps" type="number" min="1" max="1000" value=${f.steps} onInput=${set('steps')}/></label>
      <label>guidance <input name="guidance" type="number" step="0.5" min="0" value=${f.guidance} onInput=${set('guidance')}/></label>
      <label>method <select name="method" value=${f.method} onChange=${set('method')}>${METHODS.map((m) => html`<option>${m}</option>`)}</select></label>
      <label>reward <input name="reward" size="14" placeholder="(for search)" value=${f.reward} onInput=${set('reward')}/></label>
      <label>budget NFE <input name="budgetNfe" type="number" min="1" value=${f.budgetNfe} onInput=${set('budgetNfe')}/></label>
      <label>seed <input name="seed" type="number" min="0" value=${f.seed} onInput=${set('seed')}/></label>
      <button type="submit" disabled=${busy}>${busy ? 'Generating…' : 'Generate'}</button>
    </form>
    ${error && html`<p class="error">${error}</p>`}
    ${result && html`<div class="result">
      <p class="stats">NFE per image <b>${result.nfePerImage}</b> · ${result.seconds} s</p>
      <div class="images">${result.images.map((i: string) => html`<img class="px generated" src=${fileUrl(i)}/>`)}</div>
    </div>`}
  </section>`;
}
