// The app shell: login (authorization code + PKCE), the callback, organization switcher, navigation limited to what
// the role allows, and the routes. Pages other than the devices list load on demand. With a session, the first
// load's requests (user info, permissions, the devices page's first page) start before anything renders (early.ts).
import { render, type ComponentChildren } from "preact";
import { lazy, Suspense } from "preact/compat";
import { useEffect, useMemo, useState } from "preact/hooks";
import { AuthService } from "../../gen/flightctl/v1beta1/auth_service_pb.js";
import { client, errorText, getSession, onSessionChange, setSession } from "./api.js";
import { sessionFromToken, startLogin, takePendingLogin } from "./auth.js";
import { AppContext, ErrorBox, useAsync, useRetryAfterError, type AppState } from "./common.js";
import { early, startEarly } from "./early.js";
import { Link, navigate, useLocation } from "./router.js";
import { DevicesPage, startFirstPage } from "./pages/devices.js";
import "./styles.css";

const OverviewPage = lazy(() => import("./pages/overview.js").then((m) => ({ default: m.OverviewPage })));
const DeviceDetailPage = lazy(() => import("./pages/device-detail.js").then((m) => ({ default: m.DeviceDetailPage })));
const FleetsPage = lazy(() => import("./pages/fleets.js").then((m) => ({ default: m.FleetsPage })));
const FleetDetailPage = lazy(() => import("./pages/fleets.js").then((m) => ({ default: m.FleetDetailPage })));
const EnrollmentsPage = lazy(() => import("./pages/enrollments.js").then((m) => ({ default: m.EnrollmentsPage })));
const RepositoriesPage = lazy(() => import("./pages/sources.js").then((m) => ({ default: m.RepositoriesPage })));
const ResourceSyncsPage = lazy(() => import("./pages/sources.js").then((m) => ({ default: m.ResourceSyncsPage })));
const EventsPage = lazy(() => import("./pages/events.js").then((m) => ({ default: m.EventsPage })));
const AlertsPage = lazy(() => import("./pages/alerts.js").then((m) => ({ default: m.AlertsPage })));
const EditorPage = lazy(() => import("./pages/editor.js").then((m) => ({ default: m.EditorPage })));
const FleetFormPage = lazy(() => import("./pages/forms.js").then((m) => ({ default: m.FleetFormPage })));
const RepositoryFormPage = lazy(() => import("./pages/forms.js").then((m) => ({ default: m.RepositoryFormPage })));
const ConsolePage = lazy(() => import("./pages/console.js").then((m) => ({ default: m.ConsolePage })));

const ORG_KEY = "flightctl.org";
/** The organization the API acts in when a request names none and the user belongs to it (or is a super admin). */
const DEFAULT_ORG = "00000000-0000-0000-0000-000000000000";

const userInfo = () => client(AuthService).getUserInfo({});
const permissions = (orgId: string) => client(AuthService).getPermissions({ orgId });

if (getSession() && location.pathname !== "/callback") {
  // For the remembered organization ("": the API's default) until the user info says otherwise.
  const orgId = localStorage.getItem(ORG_KEY) ?? "";
  startEarly("getUserInfo", userInfo);
  startEarly(["getPermissions", orgId], () => permissions(orgId));
  if (location.pathname === "/devices") startFirstPage(orgId, new URL(location.href));
}

function Login({ error }: { error?: string }) {
  const config = useAsync(() => client(AuthService).getAuthConfig({}), []);
  const providers = (config.data?.providers ?? []).filter((p) => p.spec?.authorizationUrl && p.spec.clientId);
  const [failed, setFailed] = useState<string>();
  return (
    <main class="login" id="main">
      <h1>Flight Control</h1>
      <p>Log in to manage your devices and fleets.</p>
      <ErrorBox error={error ?? config.error ?? failed} />
      {providers.map((p) => (
        <button
          key={p.metadata?.name}
          type="button"
          class="provider"
          onClick={() =>
            startLogin(p, location.pathname === "/callback" ? "/" : location.pathname + location.search).catch((e) =>
              setFailed(String(e.message)),
            )
          }
        >
          Log in with {p.spec?.displayName || p.metadata?.name}
        </button>
      ))}
      {config.data && !providers.length ? (
        <p class="muted">No provider offers a browser login (no authorization endpoint is configured).</p>
      ) : null}
    </main>
  );
}

/** The provider sent the browser back with a code: exchange it, then go where the login started. */
function Callback({ onError }: { onError(e: string): void }) {
  useEffect(() => {
    const params = new URLSearchParams(location.search);
    (async () => {
      const pending = takePendingLogin(params);
      const t = await client(AuthService).exchangeToken({
        providerName: pending.provider,
        grantType: "authorization_code",
        clientId: pending.clientId,
        code: params.get("code")!,
        codeVerifier: pending.verifier,
        redirectUri: pending.redirectUri,
      });
      setSession(sessionFromToken(t, pending.provider, pending.clientId));
      navigate(pending.returnTo || "/", true);
    })().catch((e) => {
      navigate("/", true);
      onError(e instanceof Error && !("code" in e) ? e.message : errorText(e));
    });
  }, []);
  return <p class="boot">Logging in…</p>;
}

const NAV: { href: string; label: string; resource: string }[] = [
  { href: "/", label: "Overview", resource: "devices" },
  { href: "/devices", label: "Devices", resource: "devices" },
  { href: "/fleets", label: "Fleets", resource: "fleets" },
  { href: "/enrollmentrequests", label: "Enrollment requests", resource: "enrollmentrequests" },
  { href: "/repositories", label: "Repositories", resource: "repositories" },
  { href: "/resourcesyncs", label: "Resource syncs", resource: "resourcesyncs" },
  { href: "/events", label: "Events", resource: "events" },
  { href: "/alerts", label: "Alerts", resource: "alerts" },
];

function Shell() {
  const url = useLocation();
  const user = useAsync(() => early("getUserInfo", userInfo), []);
  const orgs = user.data?.organizations ?? [];
  const [orgId, setOrgId] = useState(localStorage.getItem(ORG_KEY) ?? "");
  const chosen = orgs.some((o) => o.metadata?.name === orgId);
  // The organization shown: the chosen one if it is the user's (the remembered one may no longer be), else the
  // default organization if the user's, else the first.
  const current = chosen ? orgId : ((orgs.find((o) => o.metadata?.name === DEFAULT_ORG) ?? orgs[0])?.metadata?.name ?? "");
  // The organization sent: "" (the API's default) while nothing is chosen and that is the one shown, so the requests
  // started before the user info was known (for the remembered organization, usually none) need not be repeated.
  const sent = !user.data ? orgId : chosen ? orgId : current === DEFAULT_ORG || !orgs.length ? "" : current;
  const perms = useAsync(() => early(["getPermissions", sent], () => permissions(sent)), [sent]);
  const state: AppState = useMemo(() => {
    const list = perms.data?.permissions ?? [];
    return {
      orgId: sent,
      can(resource, verb) {
        const entry = list.find((p) => p.resource === resource) ?? list.find((p) => p.resource === "*");
        return !!entry && (entry.operations.includes(verb) || entry.operations.includes("*"));
      },
    };
  }, [sent, perms.data]);
  useEffect(() => {
    // Focus the new page's heading so keyboard and screen-reader users land on it.
    (document.getElementById("page-title") as HTMLElement | null)?.focus({ preventScroll: true });
  }, [url.pathname]);

  // A first call that failed on its way (a server still starting, a dropped connection) is asked again; a refused
  // token ends the session instead (api.ts), which leaves this shell.
  useRetryAfterError(user.error, user.reload);
  useRetryAfterError(perms.error, perms.reload);
  if (user.error) return <Login error={user.error} />;
  if (perms.error) return <ErrorBox error={perms.error} />;
  if (!user.data || !perms.data) return <p class="boot">Loading…</p>;
  const path = url.pathname;
  return (
    <AppContext.Provider value={state}>
      <a href="#main" class="skip">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Flight Control</span>
        <nav aria-label="Main">
          <ul>
            {NAV.filter((n) => state.can(n.resource, "list")).map((n) => (
              <li key={n.href}>
                <Link href={n.href} aria-current={(n.href === "/" ? path === "/" : path.startsWith(n.href)) ? "page" : undefined}>
                  {n.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div class="user">
          <label>
            <span class="sr-only">Organization</span>
            <select
              id="org-switcher"
              value={current}
              onChange={(e) => {
                localStorage.setItem(ORG_KEY, e.currentTarget.value);
                setOrgId(e.currentTarget.value);
              }}
            >
              {orgs.map((o) => (
                <option key={o.metadata?.name} value={o.metadata?.name}>
                  {o.spec?.displayName || o.metadata?.name}
                </option>
              ))}
            </select>
          </label>
          <span class="who">{user.data.preferredUsername}</span>
          <button type="button" class="secondary" onClick={() => setSession(undefined)}>
            Log out
          </button>
        </div>
      </header>
      <main id="main">
        <Suspense fallback={<p class="boot">Loading…</p>}>
          <Route path={path} key={current} />
        </Suspense>
      </main>
    </AppContext.Provider>
  );
}

function Route({ path }: { path: string }): ComponentChildren {
  const m = (re: RegExp) => re.exec(path);
  let r: RegExpExecArray | null;
  if (path === "/") return <OverviewPage />;
  if (path === "/devices") return <DevicesPage />;
  if ((r = m(/^\/devices\/([^/]+)$/))) return <DeviceDetailPage name={decodeURIComponent(r[1])} />;
  if (path === "/fleets") return <FleetsPage />;
  if ((r = m(/^\/fleets\/([^/]+)$/))) return <FleetDetailPage name={decodeURIComponent(r[1])} />;
  if (path === "/enrollmentrequests") return <EnrollmentsPage />;
  if (path === "/repositories") return <RepositoriesPage />;
  if (path === "/resourcesyncs") return <ResourceSyncsPage />;
  if (path === "/events") return <EventsPage />;
  if (path === "/alerts") return <AlertsPage />;
  if (path === "/create/Fleet") return <FleetFormPage />;
  if (path === "/create/Repository") return <RepositoryFormPage />;
  if ((r = m(/^\/new\/(\w+)$/))) return <EditorPage key={path} kind={r[1]} />;
  if ((r = m(/^\/edit\/(\w+)\/([^/]+)$/))) return <EditorPage key={path} kind={r[1]} name={decodeURIComponent(r[2])} />;
  if ((r = m(/^\/console\/([^/]+)$/))) return <ConsolePage name={decodeURIComponent(r[1])} />;
  return (
    <section>
      <h1 id="page-title" tabIndex={-1}>
        Not found
      </h1>
      <p>
        Nothing lives at <code>{path}</code>. <Link href="/">Back to the overview</Link>
      </p>
    </section>
  );
}

function App() {
  const url = useLocation();
  const [, setTick] = useState(0);
  const [error, setError] = useState<string>();
  useEffect(() => onSessionChange(() => setTick((t) => t + 1)), []);
  if (url.pathname === "/callback") return <Callback onError={setError} />;
  return getSession() ? <Shell /> : <Login error={error} />;
}

const root = document.getElementById("app")!;
// index.html's "Loading Flight Control…" is for the moment before this script runs; preact's first render() into a
// non-empty element does not reliably replace what is there (it stayed under the login card), so it is cleared here.
root.replaceChildren();
render(<App />, root);
