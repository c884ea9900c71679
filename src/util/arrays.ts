// Small array helpers shared across the layers.

/** Each item n times in a row: [a, b], 2 → [a, a, b, b] (rows b·n + i, as batches of n samples per prompt are laid out). */
export function repeatEach<T>(items: readonly T[], n: number): T[] {
  return items.flatMap((x) => new Array<T>(n).fill(x));
}
