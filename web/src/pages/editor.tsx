// Create or edit any resource as YAML. Syntax errors are marked on their line as you type; the server's validation
// errors ("spec.template.spec.os.image: must not be empty") are mapped back to the line of the field they name.
// Loaded on demand: the YAML library stays out of the first page load.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { fromJson, toJson, type DescMessage, type DescService, type JsonValue, type Message } from "@bufbuild/protobuf";
import { LineCounter, parseDocument, stringify } from "yaml";
import { DeviceService } from "../../../gen/flightctl/v1beta1/device_service_pb.js";
import { DeviceSchema } from "../../../gen/flightctl/v1beta1/device_pb.js";
import { FleetService } from "../../../gen/flightctl/v1beta1/fleet_service_pb.js";
import { FleetSchema } from "../../../gen/flightctl/v1beta1/fleet_pb.js";
import { RepositoryService } from "../../../gen/flightctl/v1beta1/repository_service_pb.js";
import { RepositorySchema } from "../../../gen/flightctl/v1beta1/repository_pb.js";
import { ResourceSyncService } from "../../../gen/flightctl/v1beta1/resourcesync_service_pb.js";
import { ResourceSyncSchema } from "../../../gen/flightctl/v1beta1/resourcesync_pb.js";
import { EnrollmentRequestService } from "../../../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { EnrollmentRequestSchema } from "../../../gen/flightctl/v1beta1/enrollmentrequest_pb.js";
import { AuthProviderService } from "../../../gen/flightctl/v1beta1/authprovider_service_pb.js";
import { AuthProviderSchema } from "../../../gen/flightctl/v1beta1/authprovider_pb.js";
import { client, errorText, fieldProblems } from "../api.js";
import { ErrorBox, Page, useApp } from "../common.js";
import { navigate } from "../router.js";

interface KindInfo {
  service: DescService;
  schema: DescMessage;
  /** Request field holding the resource in Create/Replace. */
  field: string;
  /** Where to go after saving. */
  after(name: string): string;
  skeleton: string;
}

const KINDS: Record<string, KindInfo> = {
  Device: {
    service: DeviceService,
    schema: DeviceSchema,
    field: "device",
    after: (n) => `/devices/${n}`,
    skeleton: "apiVersion: flightctl.io/v1beta1\nkind: Device\nmetadata:\n  name: \n  labels: {}\nspec: {}\n",
  },
  Fleet: {
    service: FleetService,
    schema: FleetSchema,
    field: "fleet",
    after: (n) => `/fleets/${n}`,
    skeleton:
      "apiVersion: flightctl.io/v1beta1\nkind: Fleet\nmetadata:\n  name: \nspec:\n  selector:\n    matchLabels:\n      fleet: \n  template:\n    metadata:\n      labels:\n        fleet: \n    spec:\n      os:\n        image: quay.io/redhat/rhde:9.2\n",
  },
  Repository: {
    service: RepositoryService,
    schema: RepositorySchema,
    field: "repository",
    after: () => "/repositories",
    skeleton: "apiVersion: flightctl.io/v1beta1\nkind: Repository\nmetadata:\n  name: \nspec:\n  type: git\n  url: \n",
  },
  ResourceSync: {
    service: ResourceSyncService,
    schema: ResourceSyncSchema,
    field: "resourceSync",
    after: () => "/resourcesyncs",
    skeleton:
      "apiVersion: flightctl.io/v1beta1\nkind: ResourceSync\nmetadata:\n  name: \nspec:\n  repository: \n  targetRevision: main\n  path: /fleets\n",
  },
  EnrollmentRequest: {
    service: EnrollmentRequestService,
    schema: EnrollmentRequestSchema,
    field: "enrollmentRequest",
    after: () => "/enrollmentrequests",
    skeleton: "apiVersion: flightctl.io/v1beta1\nkind: EnrollmentRequest\nmetadata:\n  name: \nspec:\n  csr: \n",
  },
  AuthProvider: {
    service: AuthProviderService,
    schema: AuthProviderSchema,
    field: "authProvider",
    after: () => "/",
    skeleton:
      "apiVersion: flightctl.io/v1beta1\nkind: AuthProvider\nmetadata:\n  name: \nspec:\n  providerType: oidc\n  issuer: \n  clientId: \n",
  },
};

const lower = (s: string) => s[0].toLowerCase() + s.slice(1);

interface Problem {
  line?: number;
  message: string;
}

/** Field path "spec.template.spec.applications[0].name" → ["spec", "template", "spec", "applications", 0, "name"]. */
const fieldPath = (f: string) =>
  f
    .split(/\.|\[(\d+)\]/)
    .filter((p) => p !== undefined && p !== "")
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));

/** The problems of a failed save (the server's field violations) mapped to lines of `text`. */
function mapServerError(text: string, error: unknown): Problem[] {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  return fieldProblems(error).map(({ field, message: text }) => {
    if (!field) return { message: text };
    const path = fieldPath(field);
    // The deepest node that exists on the path: a missing field is reported on its parent.
    for (let n = path.length; n > 0; n--) {
      const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      const pair = n > 0 && node?.range ? node.range[0] : undefined;
      if (pair !== undefined) return { line: lc.linePos(pair).line, message: `${field}: ${text}` };
    }
    return { message: `${field}: ${text}` };
  });
}

export function EditorPage({ kind, name }: { kind: string; name?: string }) {
  const { orgId } = useApp();
  const info = KINDS[kind];
  // A new resource starts from the draft a form handed over ("Edit as YAML"), else from the kind's skeleton.
  const draft = (history.state as { yaml?: string } | null)?.yaml;
  const [text, setText] = useState<string>(name ? "" : (draft ?? info?.skeleton ?? ""));
  const [server, setServer] = useState<Problem[]>([]);
  const [loadError, setLoadError] = useState<string>();
  const [saving, setSaving] = useState(false);
  const gutter = useRef<HTMLPreElement>(null);

  useEffect(() => {
    if (!info || !name) return;
    // biome-ignore lint/suspicious/noExplicitAny: the Get method is looked up by kind
    ((client(info.service) as any)[`get${kind}`]({ orgId, name }) as Promise<never>).then(
      (msg) => {
        const json = toJson(info.schema, msg) as Record<string, unknown>;
        delete json.status; // status is the agent's and the service's, not edited here
        setText(stringify(json, { aliasDuplicateObjects: false }));
      },
      (e) => setLoadError(errorText(e)),
    );
  }, [kind, name, orgId]);

  const syntax: Problem[] = useMemo(() => {
    const lc = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
    return doc.errors.map((e) => ({ line: lc.linePos(e.pos[0]).line, message: e.message.split("\n")[0] }));
  }, [text]);
  const problems = syntax.length ? syntax : server;
  const badLines = new Set(problems.map((p) => p.line));
  const lines = text.split("\n").length;

  if (!info) return <Page title="Edit">{`Unknown kind "${kind}".`}</Page>;

  const save = async (e: Event) => {
    e.preventDefault();
    if (syntax.length) return;
    setSaving(true);
    setServer([]);
    try {
      const json = parseDocument(text).toJS() as JsonValue;
      let msg: Message;
      try {
        msg = fromJson(info.schema, json);
      } catch (err) {
        // protobuf-es names the bad field: "cannot decode field flightctl.v1beta1.FleetSpec.selectr ..."
        throw new Error((err as Error).message);
      }
      const target = (msg as { metadata?: { name?: string } }).metadata?.name ?? "";
      const method = name ? `replace${kind}` : `create${kind}`;
      // biome-ignore lint/suspicious/noExplicitAny: Create/Replace looked up by kind
      await (client(info.service) as any)[method]({ orgId, [lower(info.field)]: msg, ...(name ? { name } : {}) });
      navigate(info.after(target));
    } catch (err) {
      setServer(mapServerError(text, err));
    } finally {
      setSaving(false);
    }
  };

  return (
    <Page title={name ? `Edit ${kind} ${name}` : `Create ${kind}`}>
      <ErrorBox error={loadError} />
      <form onSubmit={save} class="editor-form">
        <label for="yaml-editor">{kind} as YAML</label>
        <div class="editor">
          <pre class="gutter" aria-hidden="true" ref={gutter}>
            {Array.from({ length: lines }, (_, i) => (
              <span key={i} class={badLines.has(i + 1) ? "bad" : ""}>
                {i + 1}
                {"\n"}
              </span>
            ))}
          </pre>
          <textarea
            id="yaml-editor"
            name="yaml"
            spellcheck={false}
            value={text}
            aria-invalid={problems.length > 0}
            aria-describedby="yaml-problems"
            onInput={(e) => {
              setText(e.currentTarget.value);
              setServer([]);
            }}
            onScroll={(e) => gutter.current && (gutter.current.scrollTop = e.currentTarget.scrollTop)}
            onKeyDown={(e) => {
              // Tab indents (two spaces); Escape then Tab leaves the editor, as in most code editors.
              if (e.key === "Tab" && !e.shiftKey && !(e.currentTarget as HTMLTextAreaElement & { escaped?: boolean }).escaped) {
                e.preventDefault();
                const t = e.currentTarget;
                const at = t.selectionStart;
                t.setRangeText("  ", at, t.selectionEnd, "end");
                setText(t.value);
              }
              (e.currentTarget as HTMLTextAreaElement & { escaped?: boolean }).escaped = e.key === "Escape";
            }}
          />
        </div>
        <ul id="yaml-problems" class="problems" role="alert" aria-live="assertive">
          {problems.map((p, i) => (
            <li key={i}>
              {p.line ? <strong>Line {p.line}: </strong> : null}
              {p.message}
            </li>
          ))}
        </ul>
        <button type="submit" disabled={saving || syntax.length > 0}>
          {name ? "Save" : "Create"}
        </button>
        <button type="button" class="secondary" onClick={() => history.back()}>
          Cancel
        </button>
      </form>
    </Page>
  );
}
