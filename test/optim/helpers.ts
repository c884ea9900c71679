// Shared by the optimizer tests: float64 parameters with hand-set gradients.
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';

export const f64 = { dtype: 'float64' } as const;
export const param = (values: number[]): torch.Tensor => torch.tensor(values, { ...f64, requiresGrad: true });
export const values = (t: torch.Tensor): number[] => [...(t.toTypedArray() as Float64Array)];
export function setGrad(p: torch.Tensor, g: number[]): void {
  torch.tidy(() => {
    p.grad = torch.tensor(g, f64);
  });
}
export function assertClose(actual: number[], expected: number[], tol: number, msg = ''): void {
  assert.equal(actual.length, expected.length, msg);
  actual.forEach((a, i) => assert.ok(Math.abs(a - expected[i]!) <= tol, `${msg}[${i}]: ${a} vs ${expected[i]} (tolerance ${tol})`));
}
