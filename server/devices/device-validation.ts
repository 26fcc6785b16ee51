// Device and device-spec rules (also used for fleet templates and template versions), following flightctl.
import type { DeviceJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { FieldViolation } from "../platform/errors.js";
import {
  absolutePathProblem,
  asArray,
  asObject,
  asString,
  base64Problem,
  childPath,
  cronProblem,
  scheduleProblems,
  devicePathProblem,
  durationSeconds,
  envVarName,
  forbidden,
  goDurationProblem,
  imageRefProblem,
  isObject,
  oneOf,
  ownerProblem,
  relativePathProblem,
  required,
  simpleDuration,
  timeZoneProblem,
  validateObjectMeta,
  Violations,
} from "../platform/validation/rules.js";
import { dnsLabelProblem, subdomainProblem } from "../platform/validation/names.js";
import { templateProblem } from "../platform/validation/template.js";
import { quote } from "../../lib/quote.js";

const MAX_INLINE_BYTES = 1024 * 1024;
const appTypes = ["compose", "quadlet", "container", "helm", "vm"] as const;

interface Ctx {
  v: Violations;
  template: boolean;
}

/** A string field that may hold template placeholders in fleet templates. */
function templated(ctx: Ctx, value: string, path: string): void {
  if (ctx.template && value.includes("{{")) ctx.v.check(path, templateProblem(value));
}

function validateOs(ctx: Ctx, os: JsonObject, path: string) {
  const image = asString(os.image);
  if (image !== undefined && os.catalogItemRef !== undefined) ctx.v.add(path, "must set image or catalogItemRef, not both");
  if (image !== undefined) {
    ctx.v.check(childPath(path, "image"), imageRefProblem(image, ctx.template));
    templated(ctx, image, childPath(path, "image"));
  }
  if (os.catalogItemRef !== undefined) validateCatalogRef(ctx, asObject(os.catalogItemRef), childPath(path, "catalogItemRef"));
}

function validateCatalogRef(ctx: Ctx, ref: JsonObject, path: string) {
  for (const k of ["catalog", "item"]) {
    const s = required(ctx.v, ref, k, path);
    if (s) ctx.v.check(childPath(path, k), subdomainProblem(s));
  }
  required(ctx.v, ref, "version", path);
}

/** A required absolute device path at obj[key], allowed for configuration and written by one provider only. */
function devicePath(ctx: Ctx, obj: JsonObject, key: string, path: string, devicePaths: Map<string, string>) {
  const p = required(ctx.v, obj, key, path);
  if (!p) return;
  const at = childPath(path, key);
  templated(ctx, p, at);
  if (p.includes("{{")) return; // resolved per device at rollout
  ctx.v.check(at, devicePathProblem(p));
  const seen = devicePaths.get(p);
  if (seen) ctx.v.add(at, `"${p}" is also written by ${seen}`);
  else devicePaths.set(p, at);
}

function validateFile(ctx: Ctx, file: JsonObject, path: string, devicePaths: Map<string, string>) {
  devicePath(ctx, file, "path", path, devicePaths);
  const content = asString(file.content);
  if (content === undefined) ctx.v.add(childPath(path, "content"), "is required");
  const encoding = asString(file.contentEncoding) ?? "plain";
  ctx.v.check(childPath(path, "contentEncoding"), oneOf(encoding, ["plain", "base64"]));
  if (content !== undefined) {
    if (encoding === "base64") ctx.v.check(childPath(path, "content"), base64Problem(content));
    else templated(ctx, content, childPath(path, "content"));
    const bytes = encoding === "base64" ? Buffer.from(content, "base64").length : Buffer.byteLength(content);
    if (bytes > MAX_INLINE_BYTES) ctx.v.add(childPath(path, "content"), `must be at most 1 MiB, got ${bytes} bytes`);
  }
  if (file.mode !== undefined && (typeof file.mode !== "number" || file.mode < 0 || file.mode > 0o7777)) {
    ctx.v.add(childPath(path, "mode"), "must be a file mode between 0 and 07777");
  }
  for (const k of ["user", "group"]) {
    const s = asString(file[k]);
    if (s !== undefined) ctx.v.check(childPath(path, k), ownerProblem(s));
  }
}

function validateConfig(ctx: Ctx, list: JsonValue[], path: string) {
  const names = new Set<string>();
  const devicePaths = new Map<string, string>();
  list.forEach((item, i) => {
    const p = childPath(path, i);
    const c = asObject(item);
    const name = required(ctx.v, c, "name", p);
    if (name) {
      ctx.v.check(childPath(p, "name"), subdomainProblem(name));
      if (names.has(name)) ctx.v.add(childPath(p, "name"), `"${name}" is used by another config provider`);
      names.add(name);
    }
    const kinds = ["gitRef", "httpRef", "inline", "secretRef"].filter((k) => c[k] !== undefined && c[k] !== null);
    if (kinds.length !== 1) {
      ctx.v.add(p, `must set exactly one of gitRef, httpRef, inline, secretRef${kinds.length ? ` (got ${kinds.join(", ")})` : ""}`);
    }
    if (isObject(c.gitRef)) {
      const g = c.gitRef;
      const gp = childPath(p, "gitRef");
      const repo = required(ctx.v, g, "repository", gp);
      if (repo) ctx.v.check(childPath(gp, "repository"), subdomainProblem(repo));
      for (const k of ["targetRevision", "path"]) {
        const s = required(ctx.v, g, k, gp);
        if (s) templated(ctx, s, childPath(gp, k));
      }
      const mount = asString(g.mountPath);
      if (mount !== undefined) ctx.v.check(childPath(gp, "mountPath"), devicePathProblem(mount));
    }
    if (isObject(c.httpRef)) {
      const h = c.httpRef;
      const hp = childPath(p, "httpRef");
      const repo = required(ctx.v, h, "repository", hp);
      if (repo) ctx.v.check(childPath(hp, "repository"), subdomainProblem(repo));
      devicePath(ctx, h, "filePath", hp, devicePaths);
      const suffix = asString(h.suffix);
      if (suffix) templated(ctx, suffix, childPath(hp, "suffix"));
    }
    if (c.inline !== undefined) {
      for (const [j, f] of asArray(c.inline).entries()) validateFile(ctx, asObject(f), childPath(childPath(p, "inline"), j), devicePaths);
    }
    if (isObject(c.secretRef)) {
      const s = c.secretRef;
      const sp = childPath(p, "secretRef");
      for (const k of ["name", "namespace"]) {
        const x = required(ctx.v, s, k, sp);
        if (x && !x.includes("{{")) ctx.v.check(childPath(sp, k), dnsLabelProblem(x));
      }
      const mount = required(ctx.v, s, "mountPath", sp);
      if (mount && !mount.includes("{{")) ctx.v.check(childPath(sp, "mountPath"), devicePathProblem(mount));
    }
  });
}

function validateApplications(ctx: Ctx, list: JsonValue[], path: string) {
  const names = new Set<string>();
  list.forEach((item, i) => {
    const p = childPath(path, i);
    const a = asObject(item);
    const appType = asString(a.appType);
    if (!appType) ctx.v.add(childPath(p, "appType"), "is required");
    else ctx.v.check(childPath(p, "appType"), oneOf(appType, appTypes));
    for (const k of ["desiredState", "restartGeneration"]) {
      if (a[k] !== undefined) ctx.v.add(childPath(p, k), "is set by the service (use the application start/stop/restart actions)");
    }
    const providers = ["image", "inline", "catalogItemRef"].filter((k) => a[k] !== undefined && a[k] !== null);
    const allowedProviders: Record<string, string[]> = {
      compose: ["image", "inline", "catalogItemRef"],
      quadlet: ["image", "inline", "catalogItemRef"],
      container: ["image", "catalogItemRef"],
      helm: ["image", "catalogItemRef"],
      vm: ["image", "inline"],
    };
    const allowed = allowedProviders[appType ?? ""] ?? ["image", "inline", "catalogItemRef"];
    if (providers.length !== 1) ctx.v.add(p, `must set exactly one of ${allowed.join(", ")}`);
    for (const k of providers) if (!allowed.includes(k)) ctx.v.add(childPath(p, k), `is not allowed for appType "${appType}"`);
    const image = asString(a.image);
    if (image !== undefined) ctx.v.check(childPath(p, "image"), imageRefProblem(image, ctx.template));
    if (a.catalogItemRef !== undefined) validateCatalogRef(ctx, asObject(a.catalogItemRef), childPath(p, "catalogItemRef"));
    const name = asString(a.name) ?? image;
    if (!asString(a.name) && a.inline !== undefined) ctx.v.add(childPath(p, "name"), "is required for inline applications");
    if (asString(a.name)) {
      const n = asString(a.name)!;
      if (n.length > 253 || !/^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$/i.test(n))
        ctx.v.add(childPath(p, "name"), `must be a name of letters, digits, '-', '_' and '.', at most 253 characters, got ${quote(n)}`);
    }
    if (name) {
      if (names.has(name)) ctx.v.add(childPath(p, "name"), `"${name}" is used by another application`);
      names.add(name);
    }
    asArray(a.inline).forEach((f, j) => {
      const fp = childPath(childPath(p, "inline"), j);
      const file = asObject(f);
      const path_ = required(ctx.v, file, "path", fp);
      if (path_) ctx.v.check(childPath(fp, "path"), relativePathProblem(path_));
      if (asString(file.content) === undefined) ctx.v.add(childPath(fp, "content"), "is required");
      const enc = asString(file.contentEncoding) ?? "plain";
      ctx.v.check(childPath(fp, "contentEncoding"), oneOf(enc, ["plain", "base64"]));
      if (enc === "base64" && asString(file.content)) ctx.v.check(childPath(fp, "content"), base64Problem(asString(file.content)!));
    });
    for (const [k, val] of Object.entries(asObject(a.envVars))) {
      const ep = childPath(childPath(p, "envVars"), k);
      if (!envVarName.test(k)) ctx.v.add(ep, "name must start with a letter or '_' and contain only letters, digits and '_'");
      if (typeof val === "string") templated(ctx, val, ep);
    }
    const only = (key: string, types: string[]) => {
      if (a[key] !== undefined && appType && !types.includes(appType))
        ctx.v.add(childPath(p, key), `is only allowed for appType ${types.join(" or ")}`);
    };
    only("ports", ["container"]);
    only("resources", ["container"]);
    only("runAs", ["container", "quadlet"]);
    only("namespace", ["helm"]);
    only("values", ["helm"]);
    only("valuesFiles", ["helm"]);
    only("publishPorts", ["vm"]);
    asArray(a.ports).forEach((port, j) => {
      const s = typeof port === "string" ? port : "";
      const m = /^(\d+):(\d+)(\/(tcp|udp|sctp))?$/.exec(s);
      if (!m || [m[1], m[2]].some((n) => Number(n) < 1 || Number(n) > 65535)) {
        ctx.v.add(
          childPath(childPath(p, "ports"), j),
          `must be "hostPort:containerPort[/tcp|udp|sctp]" with ports 1-65535, got ${quote(s)}`,
        );
      }
    });
    const limits = asObject(asObject(a.resources).limits);
    if (limits.cpu !== undefined && !(typeof limits.cpu === "string" && /^\d+(\.\d+)?$/.test(limits.cpu))) {
      ctx.v.add(`${p}.resources.limits.cpu`, `must be a number of CPUs like "0.5", got ${JSON.stringify(limits.cpu)}`);
    }
    if (limits.memory !== undefined && !(typeof limits.memory === "string" && /^\d+[bkmg]?$/i.test(limits.memory))) {
      ctx.v.add(`${p}.resources.limits.memory`, `must be a size like "256m" (b, k, m, g), got ${JSON.stringify(limits.memory)}`);
    }
    const ns = asString(a.namespace);
    if (ns !== undefined) ctx.v.check(childPath(p, "namespace"), dnsLabelProblem(ns));
    for (const [j, f] of asArray(a.valuesFiles).entries())
      ctx.v.check(childPath(childPath(p, "valuesFiles"), j), relativePathProblem(String(f)));
    validateVolumes(ctx, asArray(a.volumes), childPath(p, "volumes"), appType);
  });
}

function validateVolumes(ctx: Ctx, list: JsonValue[], path: string, appType: string | undefined) {
  const names = new Set<string>();
  list.forEach((item, i) => {
    const p = childPath(path, i);
    const vol = asObject(item);
    const name = required(ctx.v, vol, "name", p);
    if (name) {
      if (names.has(name)) ctx.v.add(childPath(p, "name"), `"${name}" is used by another volume`);
      names.add(name);
    }
    ctx.v.check(childPath(p, "reclaimPolicy"), oneOf(asString(vol.reclaimPolicy), ["Retain"]));
    const image = vol.image !== undefined ? asObject(vol.image) : undefined;
    const mount = vol.mount !== undefined ? asObject(vol.mount) : undefined;
    if (image) {
      const ref = asString(image.reference);
      if (ref !== undefined) ctx.v.check(`${p}.image.reference`, imageRefProblem(ref, ctx.template));
      else if (image.catalogItemRef === undefined) ctx.v.add(`${p}.image.reference`, "is required");
      ctx.v.check(`${p}.image.pullPolicy`, oneOf(asString(image.pullPolicy), ["Always", "IfNotPresent", "Never"]));
    }
    if (mount) {
      const mp = required(ctx.v, mount, "path", childPath(p, "mount"));
      if (mp) ctx.v.check(`${p}.mount.path`, absolutePathProblem(mp));
      if (appType && appType !== "container") ctx.v.add(childPath(p, "mount"), "is only allowed for container applications");
    }
    if (!image && !mount) ctx.v.add(p, "must set image and/or mount");
    if (appType === "container" && image && !mount)
      ctx.v.add(childPath(p, "mount"), "is required for image volumes of container applications");
  });
}

function validateMonitors(ctx: Ctx, list: JsonValue[], path: string) {
  const types = new Set<string>();
  list.forEach((item, i) => {
    const p = childPath(path, i);
    const m = asObject(item);
    const type = asString(m.monitorType);
    if (!type) ctx.v.add(childPath(p, "monitorType"), "is required");
    else {
      ctx.v.check(childPath(p, "monitorType"), oneOf(type, ["CPU", "Memory", "Disk"]));
      if (types.has(type)) ctx.v.add(childPath(p, "monitorType"), `only one ${type} monitor is allowed`);
      types.add(type);
    }
    if (type === "Disk") required(ctx.v, m, "path", p);
    else if (m.path !== undefined) ctx.v.add(childPath(p, "path"), `is only allowed for Disk monitors`);
    const sampling = required(ctx.v, m, "samplingInterval", p);
    const samplingOk = sampling !== undefined && /^[1-9]\d*[smh]$/.test(sampling);
    if (sampling && !samplingOk)
      ctx.v.add(childPath(p, "samplingInterval"), `must be a duration like "30s", "5m" or "1h", got ${quote(sampling)}`);
    const severities = new Map<string, number>();
    asArray(m.alertRules).forEach((r, j) => {
      const rp = childPath(childPath(p, "alertRules"), j);
      const rule = asObject(r);
      const sev = required(ctx.v, rule, "severity", rp);
      if (sev) {
        ctx.v.check(childPath(rp, "severity"), oneOf(sev, ["Info", "Warning", "Critical"]));
        if (severities.has(sev)) ctx.v.add(childPath(rp, "severity"), `only one ${sev} rule is allowed`);
      }
      const duration = required(ctx.v, rule, "duration", rp);
      if (duration) {
        if (!simpleDuration.test(duration)) ctx.v.add(childPath(rp, "duration"), `must be a duration like "10m", got ${quote(duration)}`);
        else if (samplingOk && durationSeconds(duration) <= durationSeconds(sampling!)) {
          ctx.v.add(childPath(rp, "duration"), `must be longer than samplingInterval (${sampling})`);
        }
      }
      const pct = rule.percentage;
      if (typeof pct !== "number" || pct < 0 || pct > 100) ctx.v.add(childPath(rp, "percentage"), "must be a number from 0 to 100");
      else if (sev) severities.set(sev, pct);
      const d = asString(rule.description);
      if (d !== undefined && d.length > 256) ctx.v.add(childPath(rp, "description"), "must be at most 256 characters");
    });
    const order = ["Info", "Warning", "Critical"].filter((s) => severities.has(s));
    for (let k = 1; k < order.length; k++) {
      if (severities.get(order[k])! <= severities.get(order[k - 1])!) {
        ctx.v.add(childPath(p, "alertRules"), `the ${order[k]} percentage must be higher than the ${order[k - 1]} one`);
      }
    }
  });
}

function validateSchedule(ctx: Ctx, s: JsonObject, path: string) {
  const at = required(ctx.v, s, "at", path);
  if (at) ctx.v.check(childPath(path, "at"), cronProblem(at));
  const tz = asString(s.timeZone);
  if (tz !== undefined) ctx.v.check(childPath(path, "timeZone"), timeZoneProblem(tz));
  const grace = asString(s.startGraceDuration);
  if (grace !== undefined) ctx.v.check(childPath(path, "startGraceDuration"), goDurationProblem(grace));
  if (at && !cronProblem(at)) {
    const problems = scheduleProblems({ at, timeZone: tz, startGraceDuration: grace });
    for (const [field, problem] of Object.entries(problems)) ctx.v.add(childPath(path, field), problem);
  }
}

/** Validates a DeviceSpec at `path`; `fleetTemplate` allows (and checks) template placeholders. */
export function validateDeviceSpec(spec: JsonValue | undefined, path: string, opts: { fleetTemplate: boolean }): FieldViolation[] {
  const ctx: Ctx = { v: new Violations(), template: opts.fleetTemplate };
  if (spec === undefined || spec === null) return [];
  const s = asObject(spec);
  if (s.os !== undefined) validateOs(ctx, asObject(s.os), childPath(path, "os"));
  validateConfig(ctx, asArray(s.config), childPath(path, "config"));
  validateApplications(ctx, asArray(s.applications), childPath(path, "applications"));
  asArray(asObject(s.systemd).matchPatterns).forEach((pat, i) => {
    const str = typeof pat === "string" ? pat : "";
    if (str.length === 0 || str.length > 256 || !/^[0-9a-zA-Z:\-_.\\[\]!*?@]+$/.test(str)) {
      ctx.v.add(
        childPath(`${path}.systemd.matchPatterns`, i),
        `must be a systemd unit name or glob of at most 256 characters, got ${quote(str)}`,
      );
    }
  });
  validateMonitors(ctx, asArray(s.resources), childPath(path, "resources"));
  const policy = asObject(s.updatePolicy);
  for (const k of ["downloadSchedule", "updateSchedule"]) {
    if (policy[k] !== undefined) validateSchedule(ctx, asObject(policy[k]), childPath(childPath(path, "updatePolicy"), k));
  }
  return ctx.v.list;
}

/** A user-written Device: metadata and spec; consoles and decommissioning are set by the service only. */
export function validateDevice(obj: DeviceJson): FieldViolation[] {
  const v = new Violations();
  const spec = asObject(obj.spec);
  forbidden(v, spec, ["consoles"], "spec", "(consoles are opened through the console API)");
  forbidden(v, spec, ["decommissioning"], "spec", "(use the decommission call)");
  return [...validateObjectMeta(obj.metadata), ...v.list, ...validateDeviceSpec(obj.spec, "spec", { fleetTemplate: false })];
}
