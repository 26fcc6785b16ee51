// A minimal history router: the path is state, links push it, the browser's back/forward pop it.
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";

/** Goes to `to`; `state` travels with the history entry (e.g. a draft handed from a form to the YAML editor). */
export function navigate(to: string, replace = false, state: unknown = null) {
  if (replace) history.replaceState(state, "", to);
  else history.pushState(state, "", to);
  dispatchEvent(new PopStateEvent("popstate"));
}

export function useLocation(): URL {
  const [href, setHref] = useState(location.href);
  useEffect(() => {
    const on = () => setHref(location.href);
    addEventListener("popstate", on);
    return () => removeEventListener("popstate", on);
  }, []);
  return new URL(href);
}

export function Link(props: { href: string; class?: string; children: ComponentChildren; "aria-current"?: "page" | undefined }) {
  return (
    <a
      href={props.href}
      class={props.class}
      aria-current={props["aria-current"]}
      onClick={(e) => {
        if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(props.href);
      }}
    >
      {props.children}
    </a>
  );
}
