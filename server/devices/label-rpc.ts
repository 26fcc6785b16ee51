// LabelService: the distinct labels of devices (flightctl's GET /labels?kind=Device).
import type { ConnectRouter } from "@connectrpc/connect";
import { LabelService, type ListLabelsRequest } from "../../gen/flightctl/v1beta1/label_service_pb.js";
import { invalid } from "../platform/errors.js";
import { pageSize } from "../platform/pagination.js";
import { callerOf, type OrgResolver } from "../platform/resource/resource-rpc.js";
import type { Db } from "../platform/resource/resource-store.js";
import { labelRequirementsToSql, parseLabelSelector } from "../platform/selectors/label-selector.js";
import { fieldRequirementsToSql, parseFieldSelector } from "../platform/selectors/field-selector.js";
import { fieldsByKind } from "../platform/selectors/fields.js";
import { createDeviceQueries } from "./device-store.js";

export const labelServiceRegistration = {
  service: LabelService,
  register(router: ConnectRouter, deps: { db: Db; orgs: OrgResolver }) {
    const queries = createDeviceQueries(deps.db);
    router.service(LabelService, {
      async listLabels(req: ListLabelsRequest, ctx) {
        const caller = await callerOf(ctx, req.orgId, deps.orgs);
        if (req.kind !== "Device") throw invalid({ field: "kind", message: `only "Device" is supported, got "${req.kind}"` });
        const where = req.labelSelector ? [labelRequirementsToSql(parseLabelSelector(req.labelSelector))] : [];
        // The field selector applies to each label pair (metadata.labels.keyOrValue), not to the devices.
        const pairWhere = req.fieldSelector
          ? [fieldRequirementsToSql(parseFieldSelector(req.fieldSelector, fieldsByKind.DeviceLabel))]
          : [];
        return { labels: await queries.labels(caller.orgId, where, pairWhere, pageSize(req.limit)) };
      },
    });
  },
};
