// A host command an app step cannot do without: its failure is the app's error, with the command and its output.
import { ApplyError } from "../apply-error.js";
import type { AppContext } from "./provider.js";

export async function must(ctx: AppContext, app: string, cmd: string, args: string[]): Promise<void> {
  const r = await ctx.exec.run(cmd, args);
  if (r.code !== 0) throw new ApplyError("apps", app, `${cmd} ${args.join(" ")} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
}
