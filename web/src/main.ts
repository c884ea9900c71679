// The dashboard's front end: a hash router over the pages (Runs, a run, Compare, Generate, Label,
// User study), rendered with preact + htm.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { html } from './api.ts';
import { RunsPage } from './pages/runs.ts';
import { RunPage } from './pages/run.ts';
import { ComparePage } from './pages/compare.ts';
import { GeneratePage } from './pages/generate.ts';
import { LabelPage } from './pages/label.ts';
import { StudyPage } from './pages/study.ts';
import './style.css';

function page(hash: string) {
  const [, name = '', arg = ''] = hash.replace(/^#\/?/, '').match(/^([^/]*)\/?(.*)$/) ?? [];
  if (name === 'run' && /^\d+$/.test(arg)) return html`<${RunPage} id=${Number(arg)}/>`;
  if (name === 'compare') return html`<${ComparePage} ids=${arg.split(',').filter((v) => /^\d+$/.test(v)).map(Number)}/>`;
  if (name === 'generate') return html`<${GeneratePage}/>`;
  if (name === 'label') return html`<${LabelPage}/>`;
  if (name === 'study') return html`<${StudyPage} id=${arg || null}/>`;
  return html`<${RunsPage}/>`;
}

function App() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  const link = (href: string, label: string, name: string) => {
    const current = (hash.replace(/^#\/?/, '').split('/')[0] || '') === name;
    return html`<a href=${href} class=${current ? 'current' : ''}>${label}</a>`;
  };
  return html`<header><b>sharpen</b> ${link('#/', 'Runs', '')} ${link('#/compare', 'Compare', 'compare')} ${link('#/generate', 'Generate', 'generate')}
      ${link('#/label', 'Label', 'label')} ${link('#/study', 'User study', 'study')}</header>
    <main>${page(hash)}</main>`;
}

render(html`<${App}/>`, document.getElementById('app')!);
