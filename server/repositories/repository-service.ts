// Repository kind: generic rules; credentials are write-only (masked on read, kept when the mask is sent back); writes
// queue the repository tester and the propagation of the change (repository-tasks.ts); oci repositories answer
// flightctl's check-oci-tag / check-oci-image (oci-checks.ts).
import { repositories } from "../../db/schema/resources.js";
import { RepositoryListSchema, RepositorySchema } from "../../gen/flightctl/v1beta1/repository_pb.js";
import {
  CheckRepositoryOciResultSchema,
  RepositoryService,
  type CheckRepositoryOciImageRequest,
  type CheckRepositoryOciTagRequest,
} from "../../gen/flightctl/v1beta1/repository_service_pb.js";
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { callerOf } from "../platform/identity.js";
import { notFound } from "../platform/errors.js";
import { checkOciImage, checkOciTag } from "./oci-checks.js";
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
  handlers: ({ standard, store }) => {
    /** The repository as stored, credentials included (the checks use them; reads mask them); NotFound when absent. */
    async function stored(name: string, ctx: HandlerContext) {
      const r = await store.get({ orgId: callerOf(ctx).orgId, name });
      if (!r) throw notFound("Repository", name);
      return { name, spec: r.spec ?? {} };
    }
    return {
      ...standard,
      checkRepositoryOciTag: async (req: CheckRepositoryOciTagRequest, ctx) =>
        create(CheckRepositoryOciResultSchema, await checkOciTag(() => stored(req.name, ctx), req.imageName, req.tag)),
      checkRepositoryOciImage: async (req: CheckRepositoryOciImageRequest, ctx) =>
        create(CheckRepositoryOciResultSchema, await checkOciImage(() => stored(req.name, ctx), req.imageName)),
    };
  },
});
