// Drives the real graphile-worker task list in tests: runOnce until the queue is empty (jobs the tasks queue
// included), on a pool of its own (graphile-worker wants error handlers on the pool and on every client).
import { Logger, runOnce, type TaskList } from "graphile-worker";
import pg from "pg";

const quietLogger = new Logger(() => () => {});

export function jobDrainer(databaseUrl: () => string, tasks: () => TaskList) {
  let pool: pg.Pool | undefined;
  return {
    async drain(): Promise<void> {
      if (!pool) {
        pool = new pg.Pool({ connectionString: databaseUrl(), max: 4 });
        pool.on("error", () => {});
        pool.on("connect", (c) => c.on("error", () => {}));
      }
      await runOnce({ pgPool: pool, taskList: tasks(), logger: quietLogger });
    },
    async close(): Promise<void> {
      await pool?.end();
      pool = undefined;
    },
  };
}
