// Message schema of every resource kind, by kind name: decoding flightctl documents (CLI apply, tests).
import type { DescMessage } from "@bufbuild/protobuf";
import { DeviceSchema } from "../../../gen/flightctl/v1beta1/device_pb.js";
import { FleetSchema } from "../../../gen/flightctl/v1beta1/fleet_pb.js";
import { RepositorySchema } from "../../../gen/flightctl/v1beta1/repository_pb.js";
import { TemplateVersionSchema } from "../../../gen/flightctl/v1beta1/templateversion_pb.js";

export const resourceSchemas: Record<string, DescMessage> = {
  Device: DeviceSchema,
  Fleet: FleetSchema,
  Repository: RepositorySchema,
  TemplateVersion: TemplateVersionSchema,
};
