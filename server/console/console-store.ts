// Console sessions in Postgres (drizzle only): who opened which session on which device, its state, and its
// recording once ended. Returns plain rows; the service turns them into proto messages.
import { sql } from "drizzle-orm";
import type { ConsoleCloseJson, ConsoleSessionMetadataJson } from "../../gen/flightctl/v1beta1/console_pb.js";
import { consoleSessions as cs } from "../../db/schema/console-sessions.js";
import { bare, jsonb, rowsOf, textArray, type Db } from "../platform/db.js";
import { deleteOlderInBatches, type BatchDeleteResult } from "../platform/retention-store.js";
import { createDeviceStore } from "../devices/device-store.js";

export interface SessionRow {
  id: string;
  orgId: string;
  device: string;
  actor: string;
  metadata: ConsoleSessionMetadataJson;
  createdAt: Date;
  attachedAt: Date | null;
  endedAt: Date | null;
  close: ConsoleCloseJson | null;
  recordingBytes: number;
  recordingTruncated: boolean;
}

/** What the console needs to know about a device before opening a session on it. */
export interface DeviceState {
  annotations: Record<string, string>;
  decommissioning: boolean;
  /** When its agent was last heard from (as of the last lastSeen flush); undefined: never, or not flushed yet. */
  lastSeen?: Date;
  /** status.summary.status ("Unknown" until the agent's first report). */
  summary: string;
}

const columns = sql`${cs.id}, ${cs.orgId}, ${cs.device}, ${cs.actor}, ${cs.metadata}, ${cs.createdAt}, ${cs.attachedAt}, ${cs.endedAt}, ${cs.close},
  ${cs.recordingBytes}, ${cs.recordingTruncated}`;

/** A console_sessions row as selected here (timestamps as Postgres text). */
interface Selected {
  id: string;
  org_id: string;
  device: string;
  actor: string;
  metadata: ConsoleSessionMetadataJson;
  created_at: string;
  attached_at: string | null;
  ended_at: string | null;
  close: ConsoleCloseJson | null;
  recording_bytes: string | number;
  recording_truncated: boolean;
}

function toRow(r: Selected): SessionRow {
  const time = (v: string | null) => (v == null ? null : new Date(v));
  return {
    id: String(r.id),
    orgId: String(r.org_id),
    device: String(r.device),
    actor: String(r.actor),
    metadata: r.metadata,
    createdAt: new Date(r.created_at),
    attachedAt: time(r.attached_at),
    endedAt: time(r.ended_at),
    close: r.close ?? null,
    recordingBytes: Number(r.recording_bytes),
    recordingTruncated: Boolean(r.recording_truncated),
  };
}

export function createConsoleStore(db: Db) {
  const devices = createDeviceStore(db);
  return {
    async device(orgId: string, name: string): Promise<DeviceState | undefined> {
      const d = await devices.get({ orgId, name });
      if (!d) return undefined;
      const lifecycle = d.status?.lifecycle?.status ?? "";
      const lastSeen = (await devices.lastSeenOf(orgId, [name])).get(name);
      return {
        annotations: d.annotations,
        decommissioning: !!d.spec?.decommissioning || /^Decommission/.test(lifecycle),
        lastSeen,
        summary: d.status?.summary?.status ?? "Unknown",
      };
    },

    /**
     * Inserts a session unless the device already has `cap` open ones (sessions younger than `maxAgeMs` that have
     * not ended; older ones belong to a replica that died). Serialized per device by an advisory lock.
     * Returns false at the cap.
     */
    async create(
      s: { id: string; orgId: string; device: string; actor: string; metadata: ConsoleSessionMetadataJson },
      cap: number,
      maxAgeMs: number,
    ): Promise<boolean> {
      return db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`console:${s.orgId}/${s.device}`}, 0))`);
        const [open] = await rowsOf<{ n: number }>(
          tx,
          sql`select count(*)::int as n from ${cs}
          where ${cs.orgId} = ${s.orgId} and ${cs.device} = ${s.device} and ${cs.endedAt} is null
            and ${cs.createdAt} > now() - make_interval(secs => ${maxAgeMs / 1000})`,
        );
        if (open.n >= cap) return false;
        await tx.execute(sql`insert into ${cs} (${bare(cs.id)}, ${bare(cs.orgId)}, ${bare(cs.device)}, ${bare(cs.actor)}, ${bare(cs.metadata)})
          values (${s.id}, ${s.orgId}, ${s.device}, ${s.actor}, ${jsonb(s.metadata)})`);
        return true;
      });
    },

    async get(orgId: string, device: string, id: string): Promise<SessionRow | undefined> {
      const [row] = await rowsOf<Selected>(
        db,
        sql`select ${columns} from ${cs} where ${cs.id} = ${id} and ${cs.orgId} = ${orgId} and ${cs.device} = ${device}`,
      );
      return row ? toRow(row) : undefined;
    },

    async list(orgId: string, device: string): Promise<SessionRow[]> {
      const rows = await rowsOf<Selected>(
        db,
        sql`select ${columns} from ${cs} where ${cs.orgId} = ${orgId} and ${cs.device} = ${device}
        order by ${cs.createdAt} desc limit 1000`,
      );
      return rows.map(toRow);
    },

    /**
     * Per device of `keys`, its sessions still waiting for it to attach, created less than `maxAgeMs` ago, oldest
     * first. One statement for many devices: every rendered-device stream asks when it opens.
     */
    async pending(keys: readonly { orgId: string; device: string }[], maxAgeMs: number): Promise<SessionRow[][]> {
      const selected = await rowsOf<Selected>(
        db,
        sql`select ${columns} from ${cs}
          where (${cs.orgId}, ${cs.device}) in (select * from unnest(${textArray(keys.map((k) => k.orgId))}::uuid[], ${textArray(keys.map((k) => k.device))}::text[]))
            and ${cs.attachedAt} is null and ${cs.endedAt} is null and ${cs.createdAt} > now() - make_interval(secs => ${maxAgeMs / 1000})
          order by ${cs.createdAt}`,
      );
      const rows = selected.map(toRow);
      return keys.map((k) => rows.filter((row) => row.orgId === k.orgId && row.device === k.device));
    },

    /** Marks the device connected; false when the session is not pending (ended, or another stream attached). */
    async attach(orgId: string, device: string, id: string): Promise<SessionRow | undefined> {
      const [row] = await rowsOf<Selected>(
        db,
        sql`update ${cs} set ${bare(cs.attachedAt)} = now()
        where ${cs.id} = ${id} and ${cs.orgId} = ${orgId} and ${cs.device} = ${device} and ${cs.attachedAt} is null and ${cs.endedAt} is null
        returning ${columns}`,
      );
      return row ? toRow(row) : undefined;
    },

    /** Ends a session with its recording (the first end wins). */
    async end(id: string, close: ConsoleCloseJson, recording: string, truncated: boolean): Promise<void> {
      await db.execute(sql`update ${cs} set ${bare(cs.endedAt)} = now(), ${bare(cs.close)} = ${jsonb(close)},
          ${bare(cs.exitCode)} = ${typeof close.exitCode === "number" ? close.exitCode : null}, ${bare(cs.recording)} = ${recording},
          ${bare(cs.recordingBytes)} = ${Buffer.byteLength(recording)}, ${bare(cs.recordingTruncated)} = ${truncated}
        where ${cs.id} = ${id} and ${cs.endedAt} is null`);
    },

    async recording(orgId: string, device: string, id: string): Promise<{ row: SessionRow; recording: string | null } | undefined> {
      const [row] = await rowsOf<Selected & { recording: string | null }>(
        db,
        sql`select ${columns}, ${cs.recording} from ${cs} where ${cs.id} = ${id} and ${cs.orgId} = ${orgId} and ${cs.device} = ${device}`,
      );
      return row ? { row: toRow(row), recording: row.recording ?? null } : undefined;
    },

    /** Deletes sessions (and recordings) created before `cutoff`, `batchSize` per statement (retention). */
    deleteOlderThan(cutoff: Date, batchSize: number): Promise<BatchDeleteResult> {
      return deleteOlderInBatches(db, { table: cs, key: cs.id, createdAt: cs.createdAt }, cutoff, batchSize);
    },
  };
}

export type ConsoleStore = ReturnType<typeof createConsoleStore>;
