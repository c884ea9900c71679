// The dashboard's calls to its server: JSON in and out, an error's message thrown as an Error.
import { h } from 'preact';
import htm from 'htm';

export const html = htm.bind(h);

/* eslint-disable @typescript-eslint/no-explicit-any */
export type Json = any;

export async function get(path: string): Promise<Json> {
  const r = await fetch(path);
  const body = await r.json().catch(() => ({ error: `${path}: ${r.status}` }));
  if (!r.ok) throw new Error(body.error ?? `${path}: ${r.status}`);
  return body;
}

export async function post(path: string, body: unknown = {}): Promise<Json> {
  const r = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const out = await r.json().catch(() => ({ error: `${path}: ${r.status}` }));
  if (!r.ok) throw new Error(out.error ?? `${path}: ${r.status}`);
  return out;
}

/** The address of a project file (an image of a run, a checkpoint, a pool). */
export const fileUrl = (rel: string) => `/api/file?path=${encodeURIComponent(rel)}`;

/** The person labelling, kept in the browser. */
export function annotator(): string {
  return localStorage.getItem('sharpen-annotator') || 'me';
}

export function setAnnotator(name: string): void {
  localStorage.setItem('sharpen-annotator', name);
}

export const fmt = (v: number | null | undefined, digits = 4) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : String(Number(v.toFixed(digits))));

export function duration(sec: number): string {
  if (sec < 60) return `${sec.toFixed(0)} s`;
  if (sec < 3600) return `${Math.floor(sec / 60)} min ${Math.round(sec % 60)} s`;
  return `${Math.floor(sec / 3600)} h ${Math.round((sec % 3600) / 60)} min`;
}
