// AgentConsoleService (agent endpoint, management certificate): the device's end of a console session.
import type { ConnectRouter } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { AgentConsoleService, OpenConsoleStreamResponseSchema } from "../../gen/flightctl/agent/v1beta1/console_service_pb.js";
import { forbidden, invalid } from "../platform/errors.js";
import { callerOf } from "../platform/identity.js";
import type { ConsoleService } from "./console-service.js";
import { createAsyncQueue } from "../../lib/async-queue.js";
import type { ConsoleFrame } from "../../gen/flightctl/v1beta1/console_pb.js";

export const agentConsoleRegistration = {
  service: AgentConsoleService,
  register(router: ConnectRouter, deps: { consoles: ConsoleService }) {
    router.service(AgentConsoleService, {
      async *openConsoleStream(requests, ctx) {
        const it = requests[Symbol.asyncIterator]();
        const first = await it.next();
        if (first.done || first.value.message.case !== "attach")
          throw invalid({ field: "attach", message: "the first message must attach to a session" });
        const { name, sessionId } = first.value.message.value;
        const caller = callerOf(ctx);
        // The interceptor cannot see a stream's messages: a device may only serve its own sessions.
        if (caller.identity.kind !== "device" || caller.identity.deviceName !== name) {
          throw forbidden(`device "${caller.identity.username}" may only attach to its own consoles, not to "${name}"'s`);
        }
        const s = await deps.consoles.attachDevice(caller, name, sessionId, ctx.signal);
        // The agent's output flows while its input is streamed; its sending side ending means the session is over.
        // Frames that arrive while the relay is busy go on together (one relay write for many frames); the bounded
        // queue pushes back on the agent when the relay is slower still.
        const output = createAsyncQueue<ConsoleFrame>(64);
        void (async () => {
          for (let r = await it.next(); !r.done; r = await it.next()) {
            if (r.value.message.case !== "frame") throw invalid({ field: "attach", message: "only the first message may attach" });
            await output.push(r.value.message.value);
          }
          output.end();
        })().catch((e: unknown) => output.end(e));
        void (async () => {
          for await (const frames of output.batches()) await s.output(frames);
          await s.leave("device closed its stream");
        })().catch(() => s.leave("device stream failed"));
        try {
          yield create(OpenConsoleStreamResponseSchema, { message: { case: "metadata", value: s.metadata } });
          for await (const f of s.input) yield create(OpenConsoleStreamResponseSchema, { message: { case: "frame", value: f } });
        } finally {
          await s.leave("device disconnected");
        }
      },
    });
  },
};
