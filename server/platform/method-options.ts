// A method option read once per method: protobuf-es's getOption builds the extension's message (an extension
// container) on every call, which showed in the endpoints' profiles at one lookup per RPC.
import type { DescMethod } from "@bufbuild/protobuf";

/** `read` memoized per method descriptor. */
export function perMethod<V>(read: (m: DescMethod) => V): (m: DescMethod) => V {
  const cache = new WeakMap<DescMethod, V>();
  return (m) => {
    if (cache.has(m)) return cache.get(m) as V;
    const v = read(m);
    cache.set(m, v);
    return v;
  };
}
