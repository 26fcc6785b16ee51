// Repository kind: generic rules; credentials are write-only (masked on read, kept when the mask is sent back); writes
// queue the repository tester and the propagation of the change (repository-tasks.ts).
import { repositories } from "../../db/schema/resources.js";
import { RepositoryListSchema, RepositorySchema } from "../../gen/flightctl/v1beta1/repository_pb.js";
import { RepositoryService } from "../../gen/flightctl/v1beta1/repository_service_pb.js";
import { defineKind } from "../platform/resource/kind.js";
import { validateRepository } from "./repository-validation.js";
import { enqueueRepositoryTest, enqueueRepositoryUpdate } from "../jobs/queues.js";

export const repositoryKind = defineKind({
  kind: "Repository",
  service: RepositoryService,
  schema: RepositorySchema,
  listSchema: RepositoryListSchema,
  table: repositories,
  validate: (obj) => validateRepository(obj),
  // Part of the write: a new or changed repository is tested at once (not only at the next periodic pass), and what
  // reads it (fleet templates, standalone devices) picks up the change; a deleted one leaves its readers invalid.
  inTx: {
    created: async (tx, _r, { key }) => {
      await enqueueRepositoryTest(tx, key.orgId, key.name);
      await enqueueRepositoryUpdate(tx, key.orgId, key.name);
    },
    updated: async (tx, _r, { key, changed }) => {
      if (!changed?.includes("spec")) return;
      await enqueueRepositoryTest(tx, key.orgId, key.name);
      await enqueueRepositoryUpdate(tx, key.orgId, key.name);
    },
    deleted: (tx, _r, { key }) => enqueueRepositoryUpdate(tx, key.orgId, key.name),
  },
  secrets: [
    ["spec", "httpConfig", "password"],
    ["spec", "httpConfig", "token"],
    ["spec", "httpConfig", "tls.key"],
    ["spec", "httpConfig", "tls.crt"],
    ["spec", "sshConfig", "sshPrivateKey"],
    ["spec", "sshConfig", "privateKeyPassphrase"],
    ["spec", "ociAuth", "password"],
  ],
  handlers: ({ standard }) => standard,
});
