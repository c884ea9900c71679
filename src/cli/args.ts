// Option parsers the commands share (commander's argParser callbacks).

/** An integer option: a non-integer is an error naming the flag. */
export function int(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw new Error(`--${name} must be an integer, got '${v}'`);
    return n;
  };
}

/** A finite number option. */
export function num(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`--${name} must be a number, got '${v}'`);
    return n;
  };
}

/** A repeatable option collected into a list. */
export function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}
