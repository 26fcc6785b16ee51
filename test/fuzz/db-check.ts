// After a fuzz run: nothing half-written. Every stored resource must still be a document its kind's schema decodes
// (spec, status, metadata as written, no unknown fields), with string labels and annotations, a name, a generation
// of at least 1 and a resource version the sequence has issued; every rendered spec must decode as a DeviceSpec.
// Then every List RPC must still answer OK over every protocol: what was stored is still servable.
import { fromJson, type DescMessage, type JsonObject } from "@bufbuild/protobuf";
import { getTableName } from "drizzle-orm";
import type pg from "pg";
import { kinds } from "../../server/app.js";
import { DeviceSpecSchema } from "../../gen/flightctl/v1beta1/device_pb.js";

export interface DbProblem {
  table: string;
  name: string;
  problem: string;
}

const isStringMap = (v: unknown) =>
  v !== null && typeof v === "object" && !Array.isArray(v) && Object.values(v as object).every((x) => typeof x === "string");

function decodes(schema: DescMessage, doc: JsonObject): string | undefined {
  try {
    fromJson(schema, doc, { ignoreUnknownFields: false });
    return undefined;
  } catch (e) {
    return (e as Error).message.slice(0, 300);
  }
}

/** Every problem found in the stored data (empty: nothing half-written). */
export async function checkDatabase(pool: pg.Pool): Promise<DbProblem[]> {
  const problems: DbProblem[] = [];
  const seq = await pool.query<{ last_value: string }>("select last_value from resource_version_seq");
  const lastVersion = BigInt(seq.rows[0].last_value);
  for (const kind of kinds) {
    const table = getTableName(kind.table);
    const rows = await pool.query(
      `select name, labels, annotations, owner, generation, resource_version::text as rv, spec, status from ${table}`,
    );
    for (const r of rows.rows) {
      const bad = (problem: string) => problems.push({ table, name: String(r.name).slice(0, 80), problem });
      if (!r.name) bad("empty name");
      if (!isStringMap(r.labels)) bad(`labels are not a string map: ${JSON.stringify(r.labels).slice(0, 100)}`);
      if (!isStringMap(r.annotations)) bad(`annotations are not a string map: ${JSON.stringify(r.annotations).slice(0, 100)}`);
      if (!(Number(r.generation) >= 1)) bad(`generation ${r.generation}`);
      if (BigInt(r.rv) > lastVersion) bad(`resource_version ${r.rv} beyond the sequence (${lastVersion})`);
      const doc: JsonObject = {
        apiVersion: "v1beta1",
        kind: kind.kind,
        metadata: { name: r.name, labels: r.labels, annotations: r.annotations, ...(r.owner ? { owner: r.owner } : {}) },
      };
      if (r.spec !== null) doc.spec = r.spec;
      if (r.status !== null) doc.status = r.status;
      const err = decodes(kind.schema, doc);
      if (err) bad(`does not decode as ${kind.kind}: ${err}`);
    }
  }
  const renders = await pool.query("select name, spec from device_renders");
  for (const r of renders.rows) {
    const err = decodes(DeviceSpecSchema, r.spec);
    if (err) problems.push({ table: "device_renders", name: r.name, problem: `spec does not decode as DeviceSpec: ${err}` });
  }
  return problems;
}
