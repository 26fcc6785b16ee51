// ConsoleService (user endpoint): map requests to the console service; nothing else. Streams carry no org_id the
// auth interceptor can see, so a stream naming another organization is resolved (and authorized) here.
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import {
  ConsoleService,
  GetConsoleRecordingResponseSchema,
  ListConsoleSessionsResponseSchema,
  OpenDeviceConsoleResponseSchema,
  SendConsoleInputResponseSchema,
  type OpenDeviceConsoleRequest,
  type OpenDeviceConsoleResponse,
} from "../../gen/flightctl/v1beta1/console_service_pb.js";
import type { ConsoleFrame } from "../../gen/flightctl/v1beta1/console_pb.js";
import { allowed } from "../auth/rbac.js";
import type { Membership } from "../organizations/membership.js";
import { forbidden, invalid } from "../platform/errors.js";
import { callerOf, type Caller, type UserIdentity } from "../platform/identity.js";
import { rolesIn } from "../auth/user-auth-interceptor.js";
import type { ConsoleService as Consoles, UserSession } from "./console-service.js";

/** The caller acting in `orgId` (the stream's own field), with the console permission checked there. */
async function callerIn(ctx: HandlerContext, orgId: string, membership: Membership): Promise<Caller> {
  const caller = callerOf(ctx);
  if (!orgId || orgId === caller.orgId) return caller;
  const user = caller.identity as UserIdentity;
  const org = await membership.resolve(user, orgId);
  if (!allowed(rolesIn(user, org.externalId), "devices/console", "get"))
    throw forbidden(`${user.username} may not get devices/console in organization ${org.externalId}`);
  return { ...caller, orgId: org.orgId, externalId: org.externalId };
}

/** The session's first message, then its output frames; nothing more once the user is gone (no one to write to). */
async function* responses(s: UserSession, signal: AbortSignal): AsyncGenerator<OpenDeviceConsoleResponse> {
  yield create(OpenDeviceConsoleResponseSchema, { message: { case: "session", value: s.session } });
  for await (const f of s.output) {
    if (signal.aborted) return;
    yield create(OpenDeviceConsoleResponseSchema, { message: { case: "frame", value: f } });
  }
}

export const consoleServiceRegistration = {
  service: ConsoleService,
  register(router: ConnectRouter, deps: { consoles: Consoles; membership: Membership }) {
    const { consoles, membership } = deps;
    router.service(ConsoleService, {
      async *openDeviceConsole(requests, ctx) {
        const it = requests[Symbol.asyncIterator]();
        const first = await it.next();
        if (first.done || first.value.message.case !== "open")
          throw invalid({ field: "open", message: "the first message must open the session" });
        const open = first.value.message.value;
        const s = await consoles.openUser(await callerIn(ctx, open.orgId, membership), open.name, open.metadata, ctx.signal);
        // Input flows while output is streamed; the user closing their sending side is not leaving (output goes on).
        void (async () => {
          for (let r = await it.next(); !r.done; r = await it.next()) {
            const m: OpenDeviceConsoleRequest["message"] = r.value.message;
            if (m.case !== "frame") throw invalid({ field: "open", message: "only the first message may open the session" });
            await s.input([m.value as ConsoleFrame]);
          }
        })().catch((err) => s.leave("invalid input", err));
        try {
          yield* responses(s, ctx.signal);
        } finally {
          await s.leave("user left");
        }
      },
      async *streamDeviceConsole(req, ctx) {
        const open = req.open;
        if (!open) throw invalid({ field: "open", message: "is required" });
        const s = await consoles.openUser(await callerIn(ctx, open.orgId, membership), open.name, open.metadata, ctx.signal);
        try {
          yield* responses(s, ctx.signal);
        } finally {
          await s.leave("user left");
        }
      },
      async sendConsoleInput(req, ctx) {
        await consoles.sendInput(callerOf(ctx), req.name, req.sessionId, req.frames);
        return create(SendConsoleInputResponseSchema, {});
      },
      async listConsoleSessions(req, ctx) {
        return create(ListConsoleSessionsResponseSchema, { sessions: await consoles.list(callerOf(ctx), req.name) });
      },
      async getConsoleRecording(req, ctx) {
        return create(GetConsoleRecordingResponseSchema, await consoles.recording(callerOf(ctx), req.name, req.sessionId));
      },
    });
  },
};
