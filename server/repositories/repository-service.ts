// Repository kind: generic rules; credentials are write-only (masked on read, kept when the mask is sent back).
import { RepositoryListSchema, RepositorySchema } from "../../gen/flightctl/v1beta1/repository_pb.js";
import { RepositoryService } from "../../gen/flightctl/v1beta1/repository_service_pb.js";
import type { KindDefinition } from "../platform/resource/kind.js";
import { validateRepository } from "./repository-validation.js";

export const repositoryKind: KindDefinition<typeof RepositorySchema> = {
  kind: "Repository",
  service: RepositoryService,
  schema: RepositorySchema,
  listSchema: RepositoryListSchema,
  table: "repositories",
  validate: (obj) => validateRepository(obj),
  secrets: [
    ["spec", "httpConfig", "password"],
    ["spec", "httpConfig", "token"],
    ["spec", "httpConfig", "tls.key"],
    ["spec", "httpConfig", "tls.crt"],
    ["spec", "sshConfig", "sshPrivateKey"],
    ["spec", "sshConfig", "privateKeyPassphrase"],
    ["spec", "ociAuth", "password"],
  ],
};
