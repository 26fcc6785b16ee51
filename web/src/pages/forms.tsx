// Create by form for the common cases: a fleet (selector, OS image, one config file, batches) and a repository (git
// or http URL). Everything else goes through the YAML editor, which "Edit as YAML" opens with what the form holds.
// The server's field errors ("metadata.name: …") are shown next to the field they name.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { fromJson, type DescMessage, type JsonObject } from "@bufbuild/protobuf";
import { FleetService } from "../../../gen/flightctl/v1beta1/fleet_service_pb.js";
import { FleetSchema } from "../../../gen/flightctl/v1beta1/fleet_pb.js";
import { RepositoryService } from "../../../gen/flightctl/v1beta1/repository_service_pb.js";
import { RepositorySchema } from "../../../gen/flightctl/v1beta1/repository_pb.js";
import { client, fieldProblems } from "../api.js";
import { ErrorBox, Page, parseLabels, useApp } from "../common.js";
import { Link, navigate } from "../router.js";

/** The server's field errors by the form field (the path or a parent of it) they concern; the rest apart. */
export function fieldErrors(error: unknown, fields: string[]): { byField: Record<string, string>; rest: string[] } {
  const byField: Record<string, string> = {};
  const rest: string[] = [];
  for (const p of fieldProblems(error)) {
    // The longest form field that is the path or a parent of it.
    const f = p.field;
    const field =
      f && fields.filter((x) => f === x || f.startsWith(`${x}.`) || f.startsWith(`${x}[`)).sort((a, b) => b.length - a.length)[0];
    if (field) byField[field] = byField[field] ? `${byField[field]}; ${p.message}` : p.message;
    else rest.push(f ? `${f}: ${p.message}` : p.message);
  }
  return { byField, rest };
}

/** A labelled input whose error (if any) is announced and tied to it. */
function Field(props: { id: string; label: string; hint?: string; error?: string; children: ComponentChildren }) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      {props.children}
      {props.hint ? (
        <small id={`${props.id}-hint`} class="muted">
          {props.hint}
        </small>
      ) : null}
      {props.error ? (
        <small id={`${props.id}-error`} class="field-error" role="alert">
          {props.error}
        </small>
      ) : null}
    </div>
  );
}

const describedBy = (id: string, error?: string, hint?: boolean) =>
  [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ") || undefined;

/** A labelled text input with its hint and error wired for assistive technology. */
function TextField(props: {
  id: string;
  label: string;
  hint?: string;
  error?: string;
  value: string;
  set(v: string): void;
  required?: boolean;
  autoFocus?: boolean;
}) {
  return (
    <Field id={props.id} label={props.label} hint={props.hint} error={props.error}>
      <input
        id={props.id}
        value={props.value}
        required={props.required}
        // biome-ignore lint/a11y/noAutofocus: only a form's first field, on a page the user opened to fill it in
        autoFocus={props.autoFocus}
        aria-invalid={!!props.error}
        aria-describedby={describedBy(props.id, props.error, !!props.hint)}
        onInput={(x) => props.set(x.currentTarget.value)}
      />
    </Field>
  );
}

/** The form around the fields: errors not tied to a field above it, Create / Edit as YAML / Cancel below. */
function FormShell(props: {
  title: string;
  general?: string;
  saving: boolean;
  submit(): void;
  yaml(): void;
  cancel: string;
  children: ComponentChildren;
}) {
  return (
    <Page title={props.title}>
      <ErrorBox error={props.general} />
      <form
        class="form"
        onSubmit={(ev) => {
          ev.preventDefault();
          props.submit();
        }}
      >
        {props.children}
        <div class="actions">
          <button type="submit" disabled={props.saving}>
            Create
          </button>
          <button type="button" class="secondary" onClick={props.yaml}>
            Edit as YAML
          </button>
          <Link href={props.cancel} class="button secondary">
            Cancel
          </Link>
        </div>
      </form>
    </Page>
  );
}

interface FormKind {
  service: typeof FleetService | typeof RepositoryService;
  schema: DescMessage;
  create: "createFleet" | "createRepository";
  field: "fleet" | "repository";
  after(name: string): string;
}

/** Submits `doc`; field errors go to the form, the rest above it. */
function useSubmit(kind: FormKind, fields: string[]) {
  const { orgId } = useApp();
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string>();
  const [saving, setSaving] = useState(false);
  const submit = async (doc: JsonObject) => {
    setSaving(true);
    setErrors({});
    setGeneral(undefined);
    try {
      const msg = fromJson(kind.schema, doc);
      // biome-ignore lint/suspicious/noExplicitAny: Create looked up by kind
      await (client(kind.service) as any)[kind.create]({ orgId, [kind.field]: msg });
      navigate(kind.after(String((doc.metadata as JsonObject).name)));
    } catch (e) {
      const { byField, rest } = fieldErrors(e, fields);
      setErrors(byField);
      setGeneral(rest.length ? rest.join("; ") : undefined);
    } finally {
      setSaving(false);
    }
  };
  return { errors, general, saving, submit };
}

/** Opens the YAML editor with the form's document, for what the form does not cover. */
async function editAsYaml(kind: string, doc: JsonObject) {
  const { stringify } = await import("yaml");
  navigate(`/new/${kind}`, false, { yaml: stringify(doc) });
}

const FLEET: FormKind = { service: FleetService, schema: FleetSchema, create: "createFleet", field: "fleet", after: (n) => `/fleets/${n}` };
const FLEET_FIELDS = ["metadata.name", "spec.selector", "spec.template.spec.os", "spec.template.spec.config", "spec.rolloutPolicy"];

export function FleetFormPage() {
  const [name, setName] = useState("");
  const [selector, setSelector] = useState("");
  const [image, setImage] = useState("");
  const [path, setPath] = useState("");
  const [content, setContent] = useState("");
  const [batches, setBatches] = useState("");
  const { errors, general, saving, submit } = useSubmit(FLEET, FLEET_FIELDS);

  const doc = (): JsonObject => {
    const matchLabels = parseLabels(selector);
    const spec: JsonObject = {};
    if (image.trim()) spec.os = { image: image.trim() };
    if (path.trim()) spec.config = [{ name: "config", inline: [{ path: path.trim(), content }] }];
    const sequence = batches
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    return {
      apiVersion: "flightctl.io/v1beta1",
      kind: "Fleet",
      metadata: { name: name.trim() },
      spec: {
        selector: { matchLabels },
        // Devices keep the selector's labels, as flightctl's examples do.
        template: { metadata: { labels: matchLabels }, spec },
        ...(sequence.length
          ? {
              rolloutPolicy: {
                deviceSelection: { strategy: "BatchSequence", sequence: sequence.map((s) => ({ limit: /^\d+$/.test(s) ? Number(s) : s })) },
              },
            }
          : {}),
      },
    };
  };
  const e = (f: string) => errors[f];
  return (
    <FormShell
      title="Create fleet"
      general={general}
      saving={saving}
      submit={() => void submit(doc())}
      yaml={() => void editAsYaml("Fleet", doc())}
      cancel="/fleets"
    >
      <TextField id="f-name" label="Name" value={name} set={setName} required autoFocus error={e("metadata.name")} />
      <TextField
        id="f-selector"
        label="Devices with labels"
        hint="key=value, comma separated; devices matching all of them join the fleet"
        value={selector}
        set={setSelector}
        required
        error={e("spec.selector")}
      />
      <TextField
        id="f-image"
        label="OS image (optional)"
        hint="e.g. quay.io/redhat/rhde:9.2"
        value={image}
        set={setImage}
        error={e("spec.template.spec.os")}
      />
      <TextField
        id="f-path"
        label="Config file path (optional)"
        hint="absolute path on the device; {{ .metadata.name }} and labels may be used in the content"
        value={path}
        set={setPath}
        error={e("spec.template.spec.config")}
      />
      <Field id="f-content" label="Config file content">
        <textarea id="f-content" rows={4} value={content} disabled={!path.trim()} onInput={(x) => setContent(x.currentTarget.value)} />
      </Field>
      <TextField
        id="f-batches"
        label="Roll out in batches (optional)"
        hint="batch sizes in order, counts or percentages, e.g. 10%, 50%; empty: all devices at once"
        value={batches}
        set={setBatches}
        error={e("spec.rolloutPolicy")}
      />
    </FormShell>
  );
}

const REPOSITORY: FormKind = {
  service: RepositoryService,
  schema: RepositorySchema,
  create: "createRepository",
  field: "repository",
  after: () => "/repositories",
};
const REPOSITORY_FIELDS = ["metadata.name", "spec.type", "spec.url"];

export function RepositoryFormPage() {
  const [name, setName] = useState("");
  const [type, setType] = useState("git");
  const [url, setUrl] = useState("");
  const { errors, general, saving, submit } = useSubmit(REPOSITORY, REPOSITORY_FIELDS);
  const doc = (): JsonObject => ({
    apiVersion: "flightctl.io/v1beta1",
    kind: "Repository",
    metadata: { name: name.trim() },
    spec: { type, url: url.trim() },
  });
  const e = (f: string) => errors[f];
  return (
    <FormShell
      title="Create repository"
      general={general}
      saving={saving}
      submit={() => void submit(doc())}
      yaml={() => void editAsYaml("Repository", doc())}
      cancel="/repositories"
    >
      <TextField id="r-name" label="Name" value={name} set={setName} required autoFocus error={e("metadata.name")} />
      <Field id="r-type" label="Type" error={e("spec.type")}>
        <select id="r-type" value={type} onChange={(x) => setType(x.currentTarget.value)}>
          <option value="git">git</option>
          <option value="http">http</option>
        </select>
      </Field>
      <TextField
        id="r-url"
        label="URL"
        hint="git: https:// or ssh (user@host:path); http: the base URL files are read under"
        value={url}
        set={setUrl}
        required
        error={e("spec.url")}
      />
      <p class="muted">Credentials (basic, token, SSH key, CA) and OCI registries: use "Edit as YAML".</p>
    </FormShell>
  );
}
