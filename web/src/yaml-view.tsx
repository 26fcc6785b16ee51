// A read-only YAML rendering of a message, with the YAML library loaded on first use (kept off the first page load).
import { useEffect, useState } from "preact/hooks";

export function YamlView({ value, label }: { value: unknown; label: string }) {
  const [text, setText] = useState<string>();
  useEffect(() => {
    let live = true;
    import("yaml").then(({ stringify }) => live && setText(stringify(value ?? {}, { aliasDuplicateObjects: false })));
    return () => {
      live = false;
    };
  }, [JSON.stringify(value)]);
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard (WCAG 2.1.1)
    // biome-ignore lint/a11y/useAriaPropsSupportedByRole: the label names the region for screen readers
    <pre class="yaml" tabIndex={0} aria-label={label}>
      {text ?? "…"}
    </pre>
  );
}
