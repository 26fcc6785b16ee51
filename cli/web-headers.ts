// A small WHATWG Headers for the bundled CLI. Node defines the global Headers lazily and its first use loads undici
// (Node's fetch implementation, ~20 ms of every command's start-up on a 2-core box); Connect uses Headers only as a
// case-insensitive multimap for request and response metadata. cli/build.mjs injects this class in place of the
// global name inside the bundle (esbuild `inject`), so the process-wide global, and fetch, stay undici's.
// Semantics follow the Fetch standard: lower-cased names, trimmed values, sorted iteration with values of one name
// combined by ", " (set-cookie listed one by one), TypeError on a name or value HTTP forbids.

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FORBIDDEN_IN_VALUE = /[\0\r\n]/;

function checkedName(name: string): string {
  const n = String(name);
  if (!TOKEN.test(n)) throw new TypeError(`Headers: invalid header name "${n}"`);
  return n.toLowerCase();
}

function checkedValue(value: string): string {
  const v = String(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
  if (FORBIDDEN_IN_VALUE.test(v)) throw new TypeError("Headers: invalid header value");
  return v;
}

export class Headers implements globalThis.Headers {
  /** Lower-case name → its values in insertion order. */
  readonly #values = new Map<string, string[]>();

  constructor(init?: HeadersInit) {
    if (init === undefined || init === null) return;
    if (typeof (init as Iterable<unknown>)[Symbol.iterator] === "function") {
      for (const pair of init as Iterable<string[]>) {
        if (pair.length !== 2) throw new TypeError("Headers: each init pair must be [name, value]");
        this.append(pair[0], pair[1]);
      }
    } else {
      for (const [name, value] of Object.entries(init as Record<string, string>)) this.append(name, value);
    }
  }

  append(name: string, value: string): void {
    const n = checkedName(name);
    const v = checkedValue(value);
    const list = this.#values.get(n);
    if (list) list.push(v);
    else this.#values.set(n, [v]);
  }

  set(name: string, value: string): void {
    this.#values.set(checkedName(name), [checkedValue(value)]);
  }

  get(name: string): string | null {
    return this.#values.get(checkedName(name))?.join(", ") ?? null;
  }

  getSetCookie(): string[] {
    return [...(this.#values.get("set-cookie") ?? [])];
  }

  has(name: string): boolean {
    return this.#values.has(checkedName(name));
  }

  delete(name: string): void {
    this.#values.delete(checkedName(name));
  }

  forEach(callback: (value: string, key: string, parent: globalThis.Headers) => void, thisArg?: unknown): void {
    for (const [name, value] of this.#pairs()) callback.call(thisArg, value, name, this);
  }

  entries() {
    return this.#pairs().values();
  }

  keys() {
    return this.#pairs()
      .map(([name]) => name)
      .values();
  }

  values() {
    return this.#pairs()
      .map(([, value]) => value)
      .values();
  }

  [Symbol.iterator]() {
    return this.entries();
  }

  /** The sorted, combined view the standard iterates over. */
  #pairs(): [string, string][] {
    const pairs: [string, string][] = [];
    for (const name of [...this.#values.keys()].sort()) {
      const list = this.#values.get(name)!;
      if (name === "set-cookie") for (const v of list) pairs.push([name, v]);
      else pairs.push([name, list.join(", ")]);
    }
    return pairs;
  }
}
