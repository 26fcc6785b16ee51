// Console sessions in Postgres (drizzle only): who opened which session on which device, its state, and its
// recording once ended. Returns plain rows; the service turns them into proto messages.
import { sql } from "drizzle-orm";
import type { JsonObject } from "@bufbuild/protobuf";
import type { Db } from "../platform/resource/resource-store.js";
import { textArray } from "../platform/pg-array.js";

export interface SessionRow {
  id: string;
  orgId: string;
  device: string;
  actor: string;
  metadata: JsonObject;
  createdAt: Date;
  attachedAt: Date | null;
  endedAt: Date | null;
  close: JsonObject | null;
  recordingBytes: number;
  recordingTruncated: boolean;
}

/** What the console needs to know about a device before opening a session on it. */
export interface DeviceState {
  annotations: Record<string, string>;
  decommissioning: boolean;
}

const columns = sql`id, org_id, device, actor, metadata, created_at, attached_at, ended_at, close, recording_bytes, recording_truncated`;

function toRow(r: Record<string, unknown>): SessionRow {
  const time = (v: unknown) => (v == null ? null : new Date(v as string));
  return {
    id: String(r.id),
    orgId: String(r.org_id),
    device: String(r.device),
    actor: String(r.actor),
    metadata: r.metadata as JsonObject,
    createdAt: time(r.created_at)!,
    attachedAt: time(r.attached_at),
    endedAt: time(r.ended_at),
    close: (r.close as JsonObject | null) ?? null,
    recordingBytes: Number(r.recording_bytes),
    recordingTruncated: Boolean(r.recording_truncated),
  };
}

export function createConsoleStore(db: Db) {
  return {
    async device(orgId: string, name: string): Promise<DeviceState | undefined> {
      const r = await db.execute(sql`select annotations, spec, status from devices where org_id = ${orgId} and name = ${name}`);
      const row = r.rows[0] as { annotations: Record<string, string>; spec: JsonObject | null; status: JsonObject | null } | undefined;
      if (!row) return undefined;
      const lifecycle = String(((row.status?.lifecycle ?? {}) as JsonObject).status ?? "");
      return { annotations: row.annotations ?? {}, decommissioning: !!row.spec?.decommissioning || /^Decommission/.test(lifecycle) };
    },

    /**
     * Inserts a session unless the device already has `cap` open ones (sessions younger than `maxAgeMs` that have
     * not ended; older ones belong to a replica that died). Serialized per device by an advisory lock.
     * Returns false at the cap.
     */
    async create(
      s: { id: string; orgId: string; device: string; actor: string; metadata: JsonObject },
      cap: number,
      maxAgeMs: number,
    ): Promise<boolean> {
      return db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`console:${s.orgId}/${s.device}`}, 0))`);
        const open = await tx.execute(sql`select count(*)::int as n from console_sessions
          where org_id = ${s.orgId} and device = ${s.device} and ended_at is null and created_at > now() - make_interval(secs => ${maxAgeMs / 1000})`);
        if ((open.rows[0] as { n: number }).n >= cap) return false;
        await tx.execute(sql`insert into console_sessions (id, org_id, device, actor, metadata)
          values (${s.id}, ${s.orgId}, ${s.device}, ${s.actor}, ${JSON.stringify(s.metadata)}::jsonb)`);
        return true;
      });
    },

    async get(orgId: string, device: string, id: string): Promise<SessionRow | undefined> {
      const r = await db.execute(
        sql`select ${columns} from console_sessions where id = ${id} and org_id = ${orgId} and device = ${device}`,
      );
      return r.rows[0] ? toRow(r.rows[0]) : undefined;
    },

    async list(orgId: string, device: string): Promise<SessionRow[]> {
      const r = await db.execute(sql`select ${columns} from console_sessions where org_id = ${orgId} and device = ${device}
        order by created_at desc limit 1000`);
      return r.rows.map(toRow);
    },

    /**
     * Per device of `keys`, its sessions still waiting for it to attach, created less than `maxAgeMs` ago, oldest
     * first. One statement for many devices: every rendered-device stream asks when it opens.
     */
    async pending(keys: readonly { orgId: string; device: string }[], maxAgeMs: number): Promise<SessionRow[][]> {
      const r = await db.execute(sql`select ${columns} from console_sessions
          where (org_id, device) in (select * from unnest(${textArray(keys.map((k) => k.orgId))}::uuid[], ${textArray(keys.map((k) => k.device))}::text[]))
            and attached_at is null and ended_at is null and created_at > now() - make_interval(secs => ${maxAgeMs / 1000})
          order by created_at`);
      const rows = r.rows.map(toRow);
      return keys.map((k) => rows.filter((row) => row.orgId === k.orgId && row.device === k.device));
    },

    /** Marks the device connected; false when the session is not pending (ended, or another stream attached). */
    async attach(orgId: string, device: string, id: string): Promise<SessionRow | undefined> {
      const r = await db.execute(sql`update console_sessions set attached_at = now()
        where id = ${id} and org_id = ${orgId} and device = ${device} and attached_at is null and ended_at is null returning ${columns}`);
      return r.rows[0] ? toRow(r.rows[0]) : undefined;
    },

    /** Ends a session with its recording (the first end wins). */
    async end(id: string, close: JsonObject, recording: string, truncated: boolean): Promise<void> {
      await db.execute(sql`update console_sessions set ended_at = now(), close = ${JSON.stringify(close)}::jsonb,
          exit_code = ${typeof close.exitCode === "number" ? close.exitCode : null}, recording = ${recording},
          recording_bytes = ${Buffer.byteLength(recording)}, recording_truncated = ${truncated}
        where id = ${id} and ended_at is null`);
    },

    async recording(orgId: string, device: string, id: string): Promise<{ row: SessionRow; recording: string | null } | undefined> {
      const r = await db.execute(
        sql`select ${columns}, recording from console_sessions where id = ${id} and org_id = ${orgId} and device = ${device}`,
      );
      const row = r.rows[0] as Record<string, unknown> | undefined;
      return row ? { row: toRow(row), recording: (row.recording as string | null) ?? null } : undefined;
    },

    /** Deletes sessions (and recordings) created before `olderThanMs` ago; returns how many. */
    async deleteOlderThan(olderThanMs: number): Promise<number> {
      const r = await db.execute(sql`delete from console_sessions where created_at < now() - make_interval(secs => ${olderThanMs / 1000})`);
      return r.rowCount ?? 0;
    },
  };
}

export type ConsoleStore = ReturnType<typeof createConsoleStore>;
