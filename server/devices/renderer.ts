// Rendering: what a device should run, computed from its spec (and, once fleets land, its fleet's template). The
// rendered spec always carries exactly one inline config provider holding every file, as flightctl's agent expects;
// providers of other types resolve through `resolvers` (git and http plug in with the GitOps issue).
import { createHash } from "node:crypto";
import type { ConfigProviderSpecJson, DeviceSpecJson, FileSpecJson } from "../../gen/flightctl/v1beta1/device_pb.js";

/** A render that cannot be done; the message names the part of the spec at fault. */
export class RenderError extends Error {}

/** Turns one non-inline config provider into files (e.g. a git provider → the files at path@revision). */
export type ConfigResolver = (provider: ConfigProviderSpecJson, ctx: ResolveContext) => Promise<FileSpecJson[]>;

export interface ResolveContext {
  orgId: string;
  device: string;
  /**
   * What external content is frozen under: the fleet template version, or the standalone device's spec generation and
   * the versions of the repositories it reads (device-tasks.ts freezeKeys).
   */
  freezeKey?: string;
  /**
   * Git commits by dependency key (git-dependencies.ts): an entry present is read as is (pinned by the template
   * version or recorded for the standalone device); one resolved during the render is added, so the caller can record it.
   */
  commits?: Record<string, string>;
}

export interface RenderInput {
  orgId: string;
  name: string;
  /** The device's own spec (standalone) or the already-instantiated fleet template. */
  spec: DeviceSpecJson | null;
  resolvers?: Record<string, ConfigResolver>;
  freezeKey?: string;
  commits?: Record<string, string>;
}

export const RENDERED_CONFIG_NAME = "rendered-config";

/** Stable JSON (sorted keys), so equal specs hash equally. */
function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

/** The rendered spec and its content hash. */
export async function renderDevice(input: RenderInput): Promise<{ spec: DeviceSpecJson; hash: string }> {
  const spec: DeviceSpecJson = { ...input.spec };
  const files: FileSpecJson[] = [];
  const byPath = new Map<string, string>();
  const providers = spec.config ?? [];
  for (const [i, p] of providers.entries()) {
    let provided: FileSpecJson[];
    if (Array.isArray(p.inline)) {
      provided = p.inline;
    } else {
      const type = Object.keys(p).find((k) => k !== "name") ?? "unknown";
      const resolve = input.resolvers?.[type];
      if (!resolve) throw new RenderError(`spec.config[${i}] (${String(p.name)}): ${type} config providers cannot be rendered yet`);
      provided = await resolve(p, { orgId: input.orgId, device: input.name, freezeKey: input.freezeKey, commits: input.commits });
    }
    // Later providers win on the same path, as in flightctl's merge.
    for (const f of provided) {
      const path = String(f.path);
      if (byPath.has(path))
        files.splice(
          files.findIndex((x) => x.path === path),
          1,
        );
      byPath.set(path, String(p.name));
      files.push(f);
    }
  }
  if (providers.length > 0) spec.config = [{ name: RENDERED_CONFIG_NAME, inline: files }];
  else delete spec.config;
  return { spec, hash: createHash("sha256").update(stable(spec)).digest("hex") };
}
