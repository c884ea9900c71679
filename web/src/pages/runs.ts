// Runs: every run of the store (status, method, reward, progress, started, wall-clock), the runs to
// compare, and training runs started and stopped from here.
import { useEffect, useState } from 'preact/hooks';
import { html, get, post, fmt, duration, type Json } from '../api.ts';

function TrainForm(props: { onStarted: () => void }) {
  const [f, setF] = useState({ name: '', method: 'rlhf-sharpening', reward: 'compositional', base: 'checkpoints/base', steps: 50, set: '' });
  const [error, setError] = useState('');
  const start = async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      await post('/api/train', {
        name: f.name, method: f.method, ...(f.reward ? { reward: f.reward } : {}), base: f.base, steps: Number(f.steps),
        set: f.set.split(/\s+/).filter(Boolean),
      });
      props.onStarted();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const field = (k: keyof typeof f, label: string, size = 16) => html`<label>${label} <input name=${k} size=${size} value=${f[k]} onInput=${(e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value })}/></label>`;
  return html`<form class="row" onSubmit=${start}>
    ${field('name', 'folder runs/', 12)} ${field('method', 'method', 16)} ${field('reward', 'reward', 12)} ${field('base', 'base', 16)}
    ${field('steps', 'steps', 5)} ${field('set', 'key=value …', 20)}
    <button type="submit">Start training</button>
    ${error && html`<span class="error">${error}</span>`}
  </form>`;
}

export function RunsPage() {
  const [runs, setRuns] = useState<Json[]>([]);
  const [jobs, setJobs] = useState<Json[]>([]);
  const [picked, setPicked] = useState<number[]>([]);
  const [error, setError] = useState('');
  const load = () => {
    get('/api/runs').then((r) => setRuns(r.runs), (e) => setError(e.message));
    get('/api/train').then((r) => setJobs(r.jobs), () => {});
  };
  useEffect(() => {
    load();
    const t = setInterval(load, 2000);
    return () => clearInterval(t);
  }, []);
  const toggle = (id: number) => setPicked(picked.includes(id) ? picked.filter((x) => x !== id) : [...picked, id]);
  const stop = (id: number) => post(`/api/train/${id}/stop`).then(load, (e) => setError(e.message));
  return html`<section>
    <h2>Runs</h2>
    ${error && html`<p class="error">${error}</p>`}
    <table class="runs">
      <thead><tr><th></th><th>id</th><th>name</th><th>method</th><th>status</th><th>reward</th><th>held-out</th><th>progress</th><th>started</th><th>wall-clock</th></tr></thead>
      <tbody>${runs.map((r) => html`<tr key=${r.id}>
        <td><input type="checkbox" aria-label=${`compare run ${r.id}`} checked=${picked.includes(r.id)} onChange=${() => toggle(r.id)}/></td>
        <td>${r.id}</td><td><a href=${`#/run/${r.id}`}>${r.name}</a></td><td>${r.method}</td>
        <td class=${`status ${r.status}`}>${r.status}</td><td>${fmt(r.reward)}</td><td>${fmt(r.heldOut)}</td>
        <td><progress max="1" value=${r.progress ?? 0}></progress> ${r.step}${r.steps ? ` / ${r.steps}` : ''}</td>
        <td>${new Date(r.startedAt).toLocaleString()}</td><td>${duration(r.wallClockSec)}</td>
      </tr>`)}</tbody>
    </table>
    <p><a class=${picked.length >= 2 ? 'button' : 'button disabled'} href=${picked.length >= 2 ? `#/compare/${picked.join(',')}` : undefined}>Compare selected (${picked.length})</a></p>
    <h3>Train</h3>
    <${TrainForm} onStarted=${load}/>
    ${jobs.length > 0 && html`<table class="jobs"><thead><tr><th>job</th><th>folder</th><th>status</th><th>last output</th><th></th></tr></thead>
      <tbody>${jobs.map((j) => html`<tr key=${j.id}><td>${j.id}</td><td>${j.out}</td><td>${j.status}</td><td class="log">${j.log.at(-1) ?? ''}</td>
        <td>${j.status === 'running' && html`<button onClick=${() => stop(j.id)}>Stop</button>`}</td></tr>`)}</tbody></table>`}
  </section>`;
}
