// The application step of an update: from the old and new spec, what each app needs (removed, replaced, stopped,
// started, restarted or nothing), done by the provider of its type. Every changed app is checked first (names,
// types, files, images), so bad input fails before anything runs differently; a failure after that is undone by the
// agent's rollback, which applies the old spec over the new one with this same function.
import type { ApplicationProviderSpecJson, DeviceSpecJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import { ApplyError } from "../apply-error.js";
import type { Executor, HostFs } from "../host.js";
import { appKey, appRef, checkAppName } from "./app-id.js";
import { composeProvider } from "./compose-provider.js";
import { containerProvider } from "./container-provider.js";
import type { AppContext, AppProvider, AppRef } from "./provider.js";
import { quadletProvider } from "./quadlet-provider.js";

const PROVIDERS: Record<string, AppProvider> = {
  compose: composeProvider,
  quadlet: quadletProvider,
  container: containerProvider,
};

export interface AppState {
  name: string;
  appType: string;
  status: "Running" | "Error" | "Stopped";
  message?: string;
}

/**
 * The update was refused while checking, before any app on the host changed: the previous version still runs as it
 * was, so a rollback leaves the apps alone (re-applying them would restart them for nothing).
 */
export class AppsRefused extends ApplyError {
  constructor(readonly refused: ApplyError) {
    super(refused.component, refused.element, "");
    this.message = refused.message;
  }
}

function providerOf(app: AppRef): AppProvider {
  const p = PROVIDERS[app.type];
  if (!p) throw new ApplyError("apps", app.name, `application type "${app.type}" is not supported by this agent`);
  return p;
}

/** An application without the two fields the service's actions set (to tell a content change from an action). */
function withoutLifecycle(app: ApplicationProviderSpecJson | undefined): ApplicationProviderSpecJson | undefined {
  if (!app) return undefined;
  const { desiredState: _s, restartGeneration: _g, ...rest } = app;
  return rest;
}

interface Plan {
  app: AppRef;
  before?: AppRef;
  /** New, or its content (anything but the lifecycle fields) changed: replaced. */
  content: boolean;
  stopped: boolean;
  wasStopped: boolean;
  /** Only restartGeneration moved. */
  restart: boolean;
}

function plan(app: AppRef, before: AppRef | undefined): Plan {
  // The service's start/stop/restart actions arrive as desiredState and restartGeneration on the rendered
  // application: a change of only those two acts on what runs, without rewriting or pulling anything.
  const content = JSON.stringify(withoutLifecycle(before?.spec)) !== JSON.stringify(withoutLifecycle(app.spec));
  return {
    app,
    before,
    content,
    stopped: app.spec.desiredState === "stopped",
    wasStopped: before?.spec.desiredState === "stopped",
    restart: !content && (before?.spec.restartGeneration ?? 0) !== (app.spec.restartGeneration ?? 0),
  };
}

/** Applications: check the changed ones, remove dropped ones, replace changed ones, act on lifecycle changes. */
export async function applyApps(fs: HostFs, exec: Executor, current: DeviceSpecJson, desired: DeviceSpecJson): Promise<AppState[]> {
  const ctx: AppContext = { fs, exec };
  const had = new Map((current.applications ?? []).map((a) => [appKey(a), appRef(a)]));
  const plans = (desired.applications ?? []).map((a) => plan(appRef(a), had.get(appKey(a))));
  const wanted = new Set(plans.map((p) => p.app.name));

  try {
    for (const p of plans) {
      checkAppName(p.app);
      const provider = providerOf(p.app);
      if (p.content) await provider.verify?.(ctx, p.app);
    }
  } catch (e) {
    throw e instanceof ApplyError ? new AppsRefused(e) : e;
  }
  for (const [name, old] of had) if (!wanted.has(name)) await providerOf(old).remove(ctx, old);

  const states: AppState[] = [];
  for (const p of plans) {
    const provider = providerOf(p.app);
    if (p.content) {
      // flightctl replaces a changed app (remove the old, add the new): compose recreates nothing by itself.
      if (p.before) await providerOf(p.before).remove(ctx, p.before);
      await provider.install(ctx, p.app);
      if (!p.stopped) await provider.start(ctx, p.app);
    } else if (p.stopped) {
      if (!p.wasStopped) await provider.stop(ctx, p.app);
    } else if (p.wasStopped) {
      await provider.start(ctx, p.app);
    } else if (p.restart) {
      await provider.restart(ctx, p.app);
    }
    states.push({ name: p.app.name, appType: p.app.type, status: p.stopped ? "Stopped" : "Running" });
  }
  return states;
}
