// One application type's way of putting an app on the host and acting on it (compose, quadlet, container). The
// update loop (apply-apps.ts) decides what to do from the old and new spec; a provider only knows how for its type.
import type { ApplicationProviderSpecJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import type { Executor, HostFs } from "../host.js";

/** The host an app is applied to. */
export interface AppContext {
  fs: HostFs;
  exec: Executor;
}

/** An application of the spec as the host knows it. */
export interface AppRef {
  /** The spec's name (status and errors use it). */
  name: string;
  /** appId(name): what the host's objects are named and labelled after (agent/apps/labels.ts). */
  id: string;
  /** compose | quadlet | container */
  type: string;
  /** The spec's entry. */
  spec: ApplicationProviderSpecJson;
}

export interface AppProvider {
  /**
   * Checks what can be known wrong before the host changes (files that do not parse, images that cannot be pulled),
   * for every app of an update before any of them is touched; pulling is allowed, nothing of a running app changes.
   * Optional: a type without it is only checked when it is installed.
   */
  verify?(ctx: AppContext, app: AppRef): Promise<void>;
  /** Puts the app's files in place and fetches what it needs; nothing is started. Throws ApplyError naming the app. */
  install(ctx: AppContext, app: AppRef): Promise<void>;
  /** Starts what the app runs (recreating what changed since the last start). */
  start(ctx: AppContext, app: AppRef): Promise<void>;
  stop(ctx: AppContext, app: AppRef): Promise<void>;
  restart(ctx: AppContext, app: AppRef): Promise<void>;
  /** Stops and removes what the app created, by the names it really has, and its files. */
  remove(ctx: AppContext, app: AppRef): Promise<void>;
}
