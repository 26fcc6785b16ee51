// How an application of the spec is named on the host, and the checks on what the spec gives for it, shared by every
// application type.
import { createHash } from "node:crypto";
import type { ApplicationContentJson, ApplicationProviderSpecJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import { ApplyError } from "../apply-error.js";
import type { AppRef } from "./provider.js";

/** flightctl-style application id: sanitized name plus a short hash, DNS-label safe. */
export function appId(name: string): string {
  const clean =
    name
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 50) || "app";
  return `${clean}-${createHash("sha256").update(name).digest("hex").slice(0, 6)}`;
}

/** The spec's key for an app: its name, or its image when it has none (as flightctl). */
export const appKey = (app: ApplicationProviderSpecJson): string => String(app.name ?? app.image);

export const appRef = (spec: ApplicationProviderSpecJson): AppRef => {
  const name = appKey(spec);
  return { name, id: appId(name), type: String(spec.appType ?? "compose"), spec };
};

/** The service's rule for an explicit name (letters, digits, '-', '_', '.'), checked again: the agent names files and projects after it. */
const NAME = /^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$/i;

export function checkAppName(app: AppRef): void {
  const n = app.spec.name;
  if (n === undefined) return;
  if (n.length > 253 || !NAME.test(n))
    throw new ApplyError(
      "apps",
      JSON.stringify(n),
      "is not a valid application name: letters, digits, '-', '_' and '.', at most 253 characters",
    );
}

/** An inline file's content as bytes. */
export const decodeContent = (f: ApplicationContentJson): Buffer =>
  f.contentEncoding === "base64" ? Buffer.from(f.content ?? "", "base64") : Buffer.from(f.content ?? "", "utf8");

/** An inline file's path inside its app directory: relative, without "..". */
export function inlinePath(app: AppRef, f: ApplicationContentJson): string {
  const path = f.path ?? "";
  if (!path || path.split("/").includes("..") || path.startsWith("/"))
    throw new ApplyError("apps", app.name, `inline path "${path}" must be relative, without ".."`);
  return path;
}
