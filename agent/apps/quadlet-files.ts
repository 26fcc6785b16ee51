// Quadlet files as flightctl installs them. Facts from flightctl's agent (provider/quadlet.go) and podman's
// quadlet generator (podman-systemd.unit(5)):
//  - an app's files live in /etc/containers/systemd/<app name>/ (rootless: ~/.config/containers/systemd/<app name>/);
//  - every quadlet file and drop-in directory is renamed <app id>-<name>, and the references between the app's files
//    are rewritten to match, so two apps may both ship a web.container;
//  - the units are grouped by a target, <app id>-flightctl-quadlet-app.target, that Wants= every generated service;
//  - the generator names units after files: web.container → web.service, data.volume → data-volume.service,
//    net.network → net-network.service, p.pod → p-pod.service (or its ServiceName=), x.image → x-image.service,
//    k.kube → k.service; and podman objects systemd-<file base name> unless ContainerName=/VolumeName=/... say.
// Where flightctl adds its label and EnvironmentFile= through a drop-in (which needs podman ≥ 5.0), this agent writes
// them into the unit itself, so podman 4.4+ generators and the podman-direct runner read one file.
import { posix } from "node:path";
import { QUADLET_PROJECT_LABEL } from "./labels.js";
import { ensureSection, lastValue, parseUnit, section, type Unit, UnitSyntaxError, writeUnit } from "./unit-file.js";

export const QUADLET_ROOT = "/etc/containers/systemd";
export const SYSTEMD_UNIT_DIR = "/etc/systemd/system";
export const TARGET_SUFFIX = "flightctl-quadlet-app.target";
export const ENV_FILE = ".env";

/** The section each quadlet extension carries. */
export const QUADLET_SECTIONS: Record<string, string> = {
  ".container": "Container",
  ".volume": "Volume",
  ".network": "Network",
  ".pod": "Pod",
  ".image": "Image",
  ".kube": "Kube",
};
/** Extensions quadlet knows and flightctl refuses. */
const UNSUPPORTED_EXTENSIONS = [".build", ".artifact"];

export class QuadletFileError extends Error {}

export const extOf = (file: string): string => posix.extname(file);
export const baseOf = (file: string): string => posix.basename(file, extOf(file));
export const isQuadletFile = (file: string): boolean => extOf(file) in QUADLET_SECTIONS;
/** .container and .kube files run something; an app needs at least one. */
export const isWorkload = (file: string): boolean => extOf(file) === ".container" || extOf(file) === ".kube";

/** The systemd unit podman's generator makes of quadlet file `file` (ServiceName= of a .pod when given). */
export function unitNameOf(file: string, unit?: Unit): string {
  const base = baseOf(file);
  switch (extOf(file)) {
    case ".container":
    case ".kube":
      return `${base}.service`;
    case ".pod": {
      const svc = unit && lastValue(unit, "Pod", "ServiceName");
      if (svc) return svc.endsWith(".service") ? svc : `${svc}.service`;
      return `${base}-pod.service`;
    }
    case ".volume":
      return `${base}-volume.service`;
    case ".network":
      return `${base}-network.service`;
    case ".image":
      return `${base}-image.service`;
    default:
      throw new QuadletFileError(`${file}: not a quadlet file (expected one of ${Object.keys(QUADLET_SECTIONS).join(", ")})`);
  }
}

/** The name podman gives the object a quadlet file creates: its *Name= key, else systemd-<base name>. */
export function objectNameOf(file: string, unit: Unit): string {
  const key: Record<string, [string, string]> = {
    ".container": ["Container", "ContainerName"],
    ".volume": ["Volume", "VolumeName"],
    ".network": ["Network", "NetworkName"],
    ".pod": ["Pod", "PodName"],
  };
  const k = key[extOf(file)];
  return (k && lastValue(unit, k[0], k[1])) || `systemd-${baseOf(file)}`;
}

/**
 * systemd's rule for unit names (unit_name_is_valid): at most 255 characters, letters, digits and ":-_.\" only, plus
 * one "@" for templates, which this agent does not run. The unit made from the file must be valid too.
 */
export function checkUnitFileName(file: string): void {
  const base = baseOf(file);
  if (file.includes("/")) throw new QuadletFileError(`quadlet file "${file}" must be at the top of the application, not in a directory`);
  if (!base) throw new QuadletFileError(`quadlet file "${file}" has no name before its extension`);
  if (base.includes("@")) throw new QuadletFileError(`quadlet file "${file}": template units (name@instance) are not supported`);
  if (!/^[A-Za-z0-9:_.\\-]+$/.test(base))
    throw new QuadletFileError(`quadlet file "${file}" is not a valid unit name (only letters, digits and ":-_.\\" are allowed)`);
  if (unitNameOf(file).length > 255) throw new QuadletFileError(`quadlet file "${file}": its unit name is longer than 255 characters`);
}

/** One file of an application, by its path relative to the app directory. */
export interface AppFile {
  path: string;
  data: Buffer;
}

/** The quadlet files of an app after checking: parsed, with their section. */
export interface CheckedQuadlets {
  quadlets: Map<string, Unit>;
  /** Drop-in .conf files, by path ("web.container.d/10-x.conf"). */
  dropIns: Map<string, Unit>;
  /** Everything else (a .env, a kube YAML, data), kept as is. */
  others: AppFile[];
}

/**
 * flightctl's checks of an app's files: quadlet files at the top only, known types, each with exactly its own type
 * section, names valid as unit names, at least one workload. Throws QuadletFileError naming the file.
 */
export function checkQuadletFiles(files: AppFile[]): CheckedQuadlets {
  const quadlets = new Map<string, Unit>();
  const dropIns = new Map<string, Unit>();
  const others: AppFile[] = [];
  for (const f of files) {
    const path = posix.normalize(f.path);
    if (path.startsWith("/") || path.split("/").includes(".."))
      throw new QuadletFileError(`file "${f.path}" must be a relative path inside the application`);
    const parts = path.split("/");
    const ext = extOf(path);
    if (UNSUPPORTED_EXTENSIONS.includes(ext)) throw new QuadletFileError(`quadlet file "${path}": ${ext} files are not supported`);
    if (parts.length === 2 && parts[0].endsWith(".d") && ext === ".conf") {
      dropIns.set(path, parseOrThrow(f.data, path));
      continue;
    }
    if (!(ext in QUADLET_SECTIONS)) {
      others.push({ path, data: f.data });
      continue;
    }
    checkUnitFileName(path);
    const unit = parseOrThrow(f.data, path);
    const own = QUADLET_SECTIONS[ext];
    for (const s of ["Build", "Artifact"])
      if (section(unit, s)) throw new QuadletFileError(`quadlet file "${path}": [${s}] sections are not supported`);
    const typed = Object.values(QUADLET_SECTIONS).filter((s) => section(unit, s));
    if (!typed.includes(own)) throw new QuadletFileError(`quadlet file "${path}" has no [${own}] section`);
    if (typed.length > 1) throw new QuadletFileError(`quadlet file "${path}" has more than one quadlet section (${typed.join(", ")})`);
    quadlets.set(path, unit);
  }
  if (quadlets.size === 0) throw new QuadletFileError("no quadlet files (.container, .volume, .network, .pod, .image, .kube) found");
  if (![...quadlets.keys()].some(isWorkload))
    throw new QuadletFileError("no workload (.container or .kube file) found; supporting files cannot be deployed alone");
  const units = new Map<string, string>();
  for (const [file, unit] of quadlets) {
    const name = unitNameOf(file, unit);
    const other = units.get(name);
    if (other) throw new QuadletFileError(`quadlet files "${other}" and "${file}" both make unit ${name}`);
    units.set(name, file);
  }
  return { quadlets, dropIns, others };
}

function parseOrThrow(data: Buffer, path: string): Unit {
  try {
    return parseUnit(data.toString("utf8"), path);
  } catch (e) {
    if (e instanceof UnitSyntaxError) throw new QuadletFileError(e.message);
    throw e;
  }
}

// --- namespacing -------------------------------------------------------------------------------------------------

const prefixed = (id: string, name: string) => (name.startsWith(`${id}-`) ? name : `${id}-${name}`);
const BUILT_IN_NETWORKS = new Set(["bridge", "host", "none", "private", "slirp4netns", "pasta", "ns"]);

/** A reference to another quadlet file (x.volume, x.network, …) gets the app prefix; anything else stays. */
const quadletRef = (id: string, v: string) => (isQuadletFile(v) ? prefixed(id, v) : v);

/** Volume=src:dst[:opts]: named volumes and .volume references are the app's; host paths are not. */
function volumeRef(id: string, v: string): string {
  const [src, ...rest] = v.split(":");
  if (rest.length === 0 || src === "" || src.startsWith("/") || src.startsWith(".") || src.startsWith("%")) return v;
  return [prefixed(id, src), ...rest].join(":");
}

function networkRef(id: string, v: string): string {
  const [name, ...rest] = v.split(":");
  if (BUILT_IN_NETWORKS.has(name)) return v;
  if (name === "container" && rest.length > 0) return `container:${prefixed(id, rest.join(":"))}`;
  return [prefixed(id, name), ...rest].join(":");
}

/** Mount=type=volume,source=x…: volume and image sources are the app's. */
function mountRef(id: string, v: string): string {
  const parts = v.split(",");
  const type = parts.find((p) => p.startsWith("type="))?.slice(5) ?? "volume";
  if (type !== "volume" && type !== "image") return v;
  return parts
    .map((p) => {
      const eq = p.indexOf("=");
      const key = eq < 0 ? "" : p.slice(0, eq).trim();
      if (key !== "source" && key !== "src") return p;
      const val = p.slice(eq + 1).trim();
      if (type === "image") return `${key}=${quadletRef(id, val)}`;
      return val.startsWith("/") || val.startsWith(".") ? p : `${key}=${prefixed(id, val)}`;
    })
    .join(",");
}

type Rule = [key: string, fn: (id: string, v: string) => string];
const RULES: Record<string, Rule[]> = {
  Container: [
    ["Image", quadletRef],
    ["Pod", quadletRef],
    ["Network", networkRef],
    ["Mount", mountRef],
    ["Volume", volumeRef],
    ["ContainerName", prefixed],
  ],
  Pod: [
    ["Network", networkRef],
    ["Volume", volumeRef],
    ["PodName", prefixed],
    ["ServiceName", prefixed],
  ],
  Volume: [
    ["Image", quadletRef],
    ["VolumeName", prefixed],
  ],
  Network: [["NetworkName", prefixed]],
  Kube: [["Network", networkRef]],
};

/** [Unit]/[Install] words: the app's own units (by file or service/target name) get the prefix; system units stay. */
function systemdRefs(id: string, value: string, own: Set<string>): string {
  return value
    .split(/\s+/)
    .map((w) => {
      const ext = extOf(w);
      if (ext === ".service" || ext === ".target") return own.has(baseOf(w)) ? prefixed(id, w) : w;
      return quadletRef(id, w);
    })
    .join(" ");
}

function namespaceUnit(unit: Unit, id: string, own: Set<string>): void {
  for (const s of unit.sections) {
    if (s.name === "Unit" || s.name === "Install") {
      s.entries = s.entries.map(([k, v]) => [k, systemdRefs(id, v, own)]);
      continue;
    }
    const rules = RULES[s.name] ?? [];
    s.entries = s.entries.map(([k, v]) => {
      const rule = rules.find(([rk]) => rk === k);
      return [k, rule ? rule[1](id, v) : v];
    });
  }
}

/** Drop-in directory names as flightctl namespaces them: web.container.d, foo-.container.d, container.d. */
function namespaceDropInDir(id: string, dir: string): string {
  const base = dir.slice(0, -2);
  if (`.${base}` in QUADLET_SECTIONS) return prefixed(id, `.${base}.d`);
  return prefixed(id, dir);
}

export const targetName = (id: string): string => `${id}-${TARGET_SUFFIX}`;

/** What an install writes: the files of the app directory and the target. */
export interface InstalledQuadlets {
  /** Path (relative to the app directory) → content. */
  files: Map<string, string | Buffer>;
  /** The namespaced quadlet files and the unit each makes, in start order (images, networks, volumes, pods, workloads). */
  units: { file: string; unit: string }[];
  target: { name: string; content: string };
}

const START_ORDER = [".image", ".network", ".volume", ".pod", ".container", ".kube"];

/**
 * Namespaces checked files for app `id` installed in device directory `appDir`: renames, rewritten references, the
 * project label on every container/volume/network, PartOf= the app's target, EnvironmentFile= the app's .env for
 * containers when `hasEnv`, and the target that wants every unit.
 */
export function namespaceApp(checked: CheckedQuadlets, id: string, appDir: string, hasEnv: boolean): InstalledQuadlets {
  const target = targetName(id);
  // Names the app's own [Unit]/[Install] references may use: file base names and their service names.
  const own = new Set<string>();
  for (const [file, unit] of checked.quadlets) {
    own.add(baseOf(file).replace(new RegExp(`^${id}-`), ""));
    own.add(baseOf(unitNameOf(file, unit)).replace(new RegExp(`^${id}-`), ""));
  }
  const files = new Map<string, string | Buffer>();
  const units: { file: string; unit: string }[] = [];
  for (const [file, unit] of checked.quadlets) {
    const name = prefixed(id, file);
    namespaceUnit(unit, id, own);
    const typeSection = ensureSection(unit, QUADLET_SECTIONS[extOf(file)]);
    const label = `${QUADLET_PROJECT_LABEL}=${id}`;
    // The project label is the agent's: a copy in the file (another app's id) is replaced.
    typeSection.entries = typeSection.entries.filter(
      ([k, v]) =>
        !(k === "Label" && v.startsWith(`${QUADLET_PROJECT_LABEL}=`)) && !(k === "PodmanArgs" && v.includes(`${QUADLET_PROJECT_LABEL}=`)),
    );
    if (["Container", "Volume", "Network"].includes(typeSection.name)) typeSection.entries.push(["Label", label]);
    // [Pod] has Label= only from podman 5.6; flightctl passes it as an argument.
    if (typeSection.name === "Pod") typeSection.entries.push(["PodmanArgs", `--label=${label}`]);
    if (hasEnv && typeSection.name === "Container") typeSection.entries.push(["EnvironmentFile", posix.join(appDir, ENV_FILE)]);
    ensureSection(unit, "Unit").entries.push(["PartOf", target]);
    files.set(name, writeUnit(unit));
    units.push({ file: name, unit: unitNameOf(name, unit) });
  }
  for (const [path, unit] of checked.dropIns) {
    const [dir, conf] = path.split("/");
    const ext = extOf(dir.slice(0, -2)) || `.${dir.slice(0, -2)}`;
    if (!(ext in QUADLET_SECTIONS)) {
      files.set(path, writeUnit(unit));
      continue;
    }
    namespaceUnit(unit, id, own);
    files.set(`${namespaceDropInDir(id, dir)}/${conf}`, writeUnit(unit));
  }
  for (const f of checked.others) files.set(f.path, f.data);
  units.sort((a, b) => START_ORDER.indexOf(extOf(a.file)) - START_ORDER.indexOf(extOf(b.file)) || a.file.localeCompare(b.file));
  const wants = units.flatMap(({ unit }) => [`Wants=${unit}`, `After=${unit}`]);
  const content = ["[Unit]", `Description=flightctl application ${id}`, ...wants, "", "[Install]", "WantedBy=default.target", ""].join(
    "\n",
  );
  files.set(target, content);
  return { files, units, target: { name: target, content } };
}

/** The drop-in directories podman reads for quadlet file `file`, most specific first (foo-bar.container: foo-bar.container.d, foo-.container.d, .container.d). */
export function dropInDirsOf(file: string): string[] {
  const ext = extOf(file);
  const base = baseOf(file);
  const dirs = [`${file}.d`];
  const parts = base.split("-");
  for (let i = parts.length - 1; i > 0; i--) dirs.push(`${parts.slice(0, i).join("-")}-${ext}.d`);
  dirs.push(`${ext.slice(1)}.d`);
  return dirs;
}

/** The installed quadlet files of an app directory listing, with their units, in start order. */
export function installedUnits(names: string[], read: (name: string) => Unit): { file: string; unit: string }[] {
  return names
    .filter(isQuadletFile)
    .map((file) => ({ file, unit: unitNameOf(file, read(file)) }))
    .sort((a, b) => START_ORDER.indexOf(extOf(a.file)) - START_ORDER.indexOf(extOf(b.file)) || a.file.localeCompare(b.file));
}
