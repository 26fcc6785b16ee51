// The JSON documents of resource kinds as protoc-gen-es generates them (json_types=true): every <Kind>Json has
// apiVersion, kind, metadata, and the kind's spec and status types. The generic machinery types documents and stored
// records with the parts of the kind's own JSON type.
import { toJson, type DescMessage, type JsonObject, type Message, type MessageJsonType, type MessageShape } from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import type { ObjectMetaJson } from "../../../gen/flightctl/v1beta1/meta_pb.js";

/** A resource document with spec `Spec` and status `Status` (the shape of every generated <Kind>Json). */
export type ResourceJson<Spec extends JsonObject = JsonObject, Status extends JsonObject = JsonObject> = {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMetaJson;
  spec?: Spec;
  status?: Status;
};

/** The descriptor of a resource message: its generated JSON type is a ResourceJson. */
export type ResourceDesc = GenMessage<Message, { jsonType: ResourceJson }>;

/** The part a kind's message lacks (AuthProvider has no status): an object with no fields, stored as null. */
export type NoJson = Record<string, never>;

/** The generated JSON type of a kind's spec (DeviceSpecJson for the Device message). */
export type SpecJson<Desc extends DescMessage> = MessageJsonType<Desc> extends { spec?: infer S extends JsonObject } ? S : NoJson;

/** The generated JSON type of a kind's status (DeviceStatusJson); NoJson for kinds without one (AuthProvider). */
export type StatusJson<Desc extends DescMessage> = MessageJsonType<Desc> extends { status?: infer S extends JsonObject } ? S : NoJson;

/** The JSON document of a kind: its generated <Kind>Json, spelt with the parts the generic rules read. */
export type KindJson<Desc extends DescMessage> = ResourceJson<SpecJson<Desc>, StatusJson<Desc>>;

/**
 * A resource message as its JSON document. protobuf-es types toJson's result as MessageJsonType<Desc>, a conditional
 * type the compiler cannot resolve while Desc is a type parameter; for a ResourceDesc it is the kind's <Kind>Json,
 * which KindJson<Desc> spells part by part, so this is the one place the two names are equated.
 */
export function kindJson<Desc extends ResourceDesc>(schema: Desc, msg: MessageShape<Desc>): KindJson<Desc> {
  return toJson(schema, msg) as KindJson<Desc>;
}
