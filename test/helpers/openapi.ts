// flightctl's OpenAPI documents (../shared/compat/flightctl-openapi, copied under test/fixtures) as test material: every
// operation they define, and a check of a response against the document's schema for its status code (ajv).
import { readFileSync } from "node:fs";
import https from "node:https";
import { Ajv, type ValidateFunction } from "ajv";
import { parse } from "yaml";
import { createCsr, deviceNameFromPublicKey, generateDeviceKey } from "../../lib/csr.js";

/** One operation of a document: a path template, a verb and what the document says of it. */
export interface Operation {
  doc: string;
  path: string;
  verb: string;
  id: string;
  parameters: { name: string; in: string; required?: boolean; schema?: { enum?: string[] } }[];
  /** The request body's schema name (components/schemas), when it has one. */
  bodySchema?: string;
  responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
}

export interface OpenApiDoc {
  name: string;
  operations: Operation[];
  /** Why `res` does not match the document for `op`, or undefined when it does. */
  check(op: Operation, status: number, body: string): string | undefined;
}

const VERBS = ["get", "put", "post", "patch", "delete"];
const DOCS = ["core/v1beta1/openapi.yaml", "agent/v1beta1/openapi.yaml"];
/** Base URI of the documents, so the agent document's "../../core/v1beta1/openapi.yaml#/…" references resolve. */
const BASE = "https://openapi.test/";

type Doc = {
  paths: Record<string, Record<string, Omit<Operation, "doc" | "path" | "verb" | "id"> & { operationId: string; requestBody?: unknown }>>;
  components: unknown;
};
const read = (rel: string) => parse(readFileSync(new URL(`../fixtures/flightctl-openapi/${rel}`, import.meta.url), "utf8")) as Doc;

// Each document is one schema resource, so "#/components/schemas/X" references resolve inside it. OpenAPI 3.0
// keywords (nullable, x-…) are not JSON Schema's: strict off; formats are not checked. A oneOf with a discriminator
// mapping means "the branch the property names" (OpenAPI), so it becomes one implication per mapped value: ajv's own
// discriminator support refuses mappings, and a plain oneOf fails whenever two branches both accept a value.
const ajv = new Ajv({ strict: false, validateFormats: false });
for (const rel of DOCS) ajv.addSchema({ $id: `${BASE}${rel}`, components: byDiscriminator(read(rel).components) } as object);

function byDiscriminator(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(byDiscriminator);
  if (!v || typeof v !== "object") return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (k !== "discriminator") out[k] = byDiscriminator(x);
  const d = (v as { discriminator?: { propertyName: string; mapping?: Record<string, string> } }).discriminator;
  if (d?.mapping && Array.isArray(out.oneOf)) {
    out.anyOf = out.oneOf;
    delete out.oneOf;
    // "property is value" implies the mapped branch: not(property is value) or branch.
    out.allOf = Object.entries(d.mapping).map(([value, ref]) => ({
      anyOf: [{ not: { properties: { [d.propertyName]: { const: value } }, required: [d.propertyName] } }, { $ref: ref }],
    }));
  }
  return out;
}

/** Loads a document (a path under test/fixtures/flightctl-openapi). */
export function loadOpenApi(rel: string): OpenApiDoc {
  const doc = read(rel);
  const validators = new Map<string, ValidateFunction>();
  const validator = (ref: string) => {
    let v = validators.get(ref);
    if (!v) {
      v = ajv.getSchema(new URL(ref, `${BASE}${rel}`).href);
      if (!v) throw new Error(`${rel}: no schema ${ref}`);
      validators.set(ref, v);
    }
    return v;
  };
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const verb of VERBS) {
      const o = item[verb];
      if (!o) continue;
      const content = (o.requestBody as { content?: Record<string, { schema?: { $ref?: string } }> } | undefined)?.content;
      const ref = content && Object.values(content)[0]?.schema?.$ref;
      operations.push({
        doc: rel,
        path,
        verb: verb.toUpperCase(),
        id: o.operationId,
        parameters: o.parameters ?? [],
        bodySchema: ref?.split("/").pop(),
        responses: o.responses,
      });
    }
  }
  return {
    name: rel,
    operations,
    check(op, status, body) {
      const r = op.responses[String(status)];
      if (!r) return `status ${status} is not documented (documented: ${Object.keys(op.responses).join(", ")}); body ${body.slice(0, 300)}`;
      const ref = r.content?.["application/json"]?.schema?.$ref;
      if (!ref) return body === "" || !r.content ? undefined : `status ${status} has no JSON schema but a body came`;
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        return `status ${status}: body is not JSON: ${body.slice(0, 200)}`;
      }
      const v = validator(ref);
      return v(json) ? undefined : `status ${status}: ${ref} mismatch: ${ajv.errorsText(v.errors)}; body ${body.slice(0, 300)}`;
    },
  };
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTPS/1.1 request (as curl or a Go client would make it), with an optional client certificate; an upgrade
 * request answers with the 101. */
export function httpsCall(
  port: number,
  ca: string,
  method: string,
  path: string,
  opts: { body?: string; headers?: Record<string, string>; cert?: { certPem: string; keyPem: string } } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        servername: "localhost",
        port,
        method,
        path,
        ca,
        agent: false,
        ...(opts.cert ? { cert: opts.cert.certPem, key: opts.cert.keyPem } : {}),
        headers: { ...(opts.body !== undefined ? { "content-type": "application/json" } : {}), ...opts.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    // A WebSocket handshake (the console route): the 101 answer is the result; the socket is closed at once.
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: "" });
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** Enrollment material (certificate and key) from the user API's GET /api/v1/enrollmentconfig, as an installer gets it. */
export async function restEnrollmentCredential(port: number, ca: string, token: string): Promise<{ certPem: string; keyPem: string }> {
  const res = await httpsCall(port, ca, "GET", "/api/v1/enrollmentconfig", { headers: { authorization: `Bearer ${token}` } });
  const auth = (JSON.parse(res.body)["enrollment-service"] as { authentication: Record<string, string> }).authentication;
  return {
    certPem: Buffer.from(auth["client-certificate-data"], "base64").toString(),
    keyPem: Buffer.from(auth["client-key-data"], "base64").toString(),
  };
}

/** A new device's key, its name (the key's fingerprint) and the EnrollmentRequest an agent would send for it. */
export async function newEnrollmentRequest(labels: Record<string, string>) {
  const keys = await generateDeviceKey();
  const name = await deviceNameFromPublicKey(keys.publicKey);
  const er = { apiVersion: "v1beta1", kind: "EnrollmentRequest", metadata: { name }, spec: { csr: await createCsr(keys, name), labels } };
  return { keys, name, er };
}
