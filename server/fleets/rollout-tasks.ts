// Policy-driven rollouts: a fleet with a rolloutPolicy gets its template version batch by batch (BatchSequence) and/or
// only as fast as its disruption budget allows. A self-rescheduling tick job per fleet moves the rollout on: it
// checks the dispatched batch, reports it, suspends (or reverts) below the success threshold, selects and releases
// the next batch, and releases pending devices under the budget. State lives in fleet and device annotations, so a
// tick that dies half-way is simply run again.
import { isDeepStrictEqual } from "node:util";
import type { NewEvent } from "../platform/event-store.js";
import { setCondition } from "../platform/conditions.js";
import { enqueue } from "../jobs/enqueue.js";
import { type TaskHandlers, TASK_FLEET_ROLLOUT_SWEEP, TASK_FLEET_ROLLOUT_TICK, TASK_FLEET_SELECTION } from "../jobs/catalog.js";
import type { Db } from "../platform/resource/resource-store.js";
import { createFleetStore, type FleetStore } from "./fleet-store.js";
import { hasPendingJob } from "../jobs/queue-store.js";
import {
  ANNOTATION_RENDERED_TEMPLATE_VERSION,
  ANNOTATION_SELECTED_FOR_ROLLOUT,
  ANNOTATION_TEMPLATE_VERSION,
} from "../devices/device-annotations.js";
import { createDeviceStore, type DeviceStore } from "../devices/device-store.js";
import {
  batchCount,
  batchOutcome,
  budgetGroups,
  describeBatch,
  planRollout,
  policyLabelKeys,
  releaseUnderBudget,
  selectBatch,
  type BudgetDevice,
  type RolloutDevice,
} from "./rollout-math.js";
import type { RolloutPolicyJson as RolloutPolicy } from "../../gen/flightctl/v1beta1/fleet_pb.js";

/** Fleet annotations of the rollout state (flightctl's names where it has them). */
const DEPLOYING = "fleet-controller/deployingTemplateVersion";
const BATCH = "fleet-controller/batchNumber";
const DISPATCHED_AT = "fleet-controller/batchDispatchedAt";
const REPORTED = "fleet-controller/lastBatchReported";
const PREVIOUS = "fleet-controller/previousTemplateVersion";
const REVERTED = "fleet-controller/revertedTemplateVersion";

/** The device annotations a rollout reads. */
const ROLLOUT_ANNOTATIONS = [ANNOTATION_SELECTED_FOR_ROLLOUT, ANNOTATION_RENDERED_TEMPLATE_VERSION, ANNOTATION_TEMPLATE_VERSION];

const actor = "service:flightctl-worker";
const fleetEvent = (name: string, e: Omit<NewEvent, "actor" | "involvedObject" | "sourceComponent">): NewEvent => ({
  ...e,
  actor,
  involvedObject: { kind: "Fleet", name },
  sourceComponent: "flightctl-worker",
});

/** Whether the policy asks for anything but all-at-once. */
export const isManaged = <P extends { deviceSelection?: unknown; disruptionBudget?: unknown }>(policy: P | undefined): policy is P =>
  !!policy && !!(policy.deviceSelection || policy.disruptionBudget);

/** What the rollout needs to know about one owned device. */
interface DeviceView extends RolloutDevice {
  /** Its spec already carries the target template version (released). */
  assigned: boolean;
}

/** Writes the template version (`tv`, default the fleet's current) into the named devices' specs. */
export type ApplyTemplate = (orgId: string, fleet: string, only: string[], tv?: string) => Promise<void>;

/** The stores a rollout works through: built once by the task factory (or service) that owns them. */
export interface RolloutStores {
  fleets: FleetStore;
  devices: DeviceStore;
}

/** Reads shared by the ticks and the dry run. */
export function createRolloutReads(db: Db, stores: RolloutStores = { fleets: createFleetStore(db), devices: createDeviceStore(db) }) {
  const { fleets: fleetStore, devices } = stores;
  const loadFleet = (orgId: string, name: string) => fleetStore.get(orgId, name);

  /** The owned devices as the rollout of `tv` under `policy` sees them (only the labels the policy reads). */
  async function deviceViews(orgId: string, fleet: string, tv: string, policy: RolloutPolicy): Promise<DeviceView[]> {
    const rows = await devices.ownedForRollout(orgId, `Fleet/${fleet}`, policyLabelKeys(policy), ROLLOUT_ANNOTATIONS);
    return rows.flatMap((d) => {
      // Torn between fleets: not this rollout's to move.
      if (d.multipleOwners) return [];
      const summary = d.summary ?? "Unknown";
      const selected = d.annotations[ANNOTATION_SELECTED_FOR_ROLLOUT] ?? "";
      const renderedTarget = d.annotations[ANNOTATION_RENDERED_TEMPLATE_VERSION] === tv;
      const upToDate = d.updated === "UpToDate";
      const updatedToTarget = renderedTarget && upToDate;
      const failed = renderedTarget && !updatedToTarget && d.updatingReason === "Error";
      return [
        {
          name: d.name,
          labels: d.labels,
          connected: summary !== "Unknown" && summary !== "AwaitingReconnect",
          selectedBatch: selected.startsWith(`${tv}/`) ? Number(selected.slice(tv.length + 1)) : undefined,
          updatedToTarget,
          failed,
          updating: renderedTarget && !updatedToTarget && !failed,
          renderedTarget,
          assigned: d.annotations[ANNOTATION_TEMPLATE_VERSION] === tv,
        },
      ];
    });
  }

  /**
   * Whether the fleet's owners are being recomputed (a selection job for the fleet itself, queued by a fleet write,
   * waits or runs). Its template version can be ready first; batches picked then would miss devices not yet owned.
   */
  // A selection job for the fleet itself (queued by a fleet write) that waits or runs: its owned devices are not final.
  const ownershipSettling = (orgId: string, fleetName: string): Promise<boolean> =>
    hasPendingJob(db, TASK_FLEET_SELECTION, [{ orgId, fleet: fleetName }]);

  /** The dry run: batches of a fresh rollout of the current template version, and what the budget allows now. */
  async function plan(orgId: string, fleetName: string) {
    const fleet = await loadFleet(orgId, fleetName);
    if (!fleet) return undefined;
    const tv = fleet.annotations[ANNOTATION_TEMPLATE_VERSION] ?? "";
    const policy = (fleet.spec.rolloutPolicy ?? {}) as RolloutPolicy;
    const devices = (await deviceViews(orgId, fleetName, tv, policy)).map((d) => ({ ...d, selectedBatch: undefined }));
    const batches = policy.deviceSelection
      ? planRollout(policy, devices).batches.map((b) => ({
          ...b,
          successThreshold: batchOutcome(policy, b.index, [], new Date(), new Date()).threshold,
        }))
      : [{ index: 0, name: "all devices", devices: devices.filter((d) => d.connected).map((d) => d.name), successThreshold: 0 }];
    const taken = new Set(batches.flatMap((b) => b.devices));
    const groups = policy.disruptionBudget
      ? budgetGroups(
          policy.disruptionBudget,
          budgetView(devices, () => true),
        )
      : [];
    return {
      templateVersion: tv,
      batches,
      budgetGroups: groups,
      notSelected: devices.filter((d) => !taken.has(d.name)).map((d) => d.name),
      selectionPending: await ownershipSettling(orgId, fleetName),
    };
  }

  return { loadFleet, deviceViews, plan, ownershipSettling };
}

const budgetView = (devices: DeviceView[], eligible: (d: DeviceView) => boolean): BudgetDevice[] =>
  devices.map((d) => ({
    name: d.name,
    labels: d.labels,
    connected: d.connected,
    busy: d.assigned && !d.updatedToTarget && !d.failed,
    pending: eligible(d) && !d.assigned,
  }));

export function createRolloutTasks(db: Db, opts: { apply: ApplyTemplate; tickSeconds: number; stores: RolloutStores }) {
  const { loadFleet, deviceViews, plan, ownershipSettling } = createRolloutReads(db, opts.stores);
  const { fleets: fleetStore, devices: deviceStore } = opts.stores;
  const enqueueTick = (orgId: string, fleet: string, delaySeconds = 0) =>
    // One queue per fleet: a tick queued while another runs waits for it instead of dispatching the same batch twice.
    enqueue(
      db,
      TASK_FLEET_ROLLOUT_TICK,
      { orgId, fleet },
      { jobKey: `fleet-tick:${orgId}/${fleet}`, delaySeconds, queueName: `fleet:${orgId}/${fleet}` },
    );

  /** One step of a fleet's rollout; returns whether another tick is needed. */
  async function tick(orgId: string, fleetName: string, now = new Date()): Promise<boolean> {
    const fleet = await loadFleet(orgId, fleetName);
    const tv = fleet?.annotations[ANNOTATION_TEMPLATE_VERSION];
    const policy = fleet?.spec.rolloutPolicy as RolloutPolicy | undefined;
    if (!fleet || !tv || !isManaged(policy)) return false;
    const annotations = { ...fleet.annotations };
    const status = fleet.status ?? {};
    let conditions = status.conditions ?? [];
    // Fleet writes are rare, so this wait is short and cannot starve the rollout; the fleet says why it waits.
    if (await ownershipSettling(orgId, fleetName)) {
      const waiting = setCondition(conditions, {
        type: "RolloutInProgress",
        status: "True",
        reason: "Waiting",
        message: "waiting for the fleet's devices to be selected",
      });
      if (!isDeepStrictEqual(waiting, conditions))
        await fleetStore.write(db, orgId, fleetName, { status: { ...status, conditions: waiting } });
      return true;
    }
    const events: NewEvent[] = [];
    let again = true;
    const devices = await deviceViews(orgId, fleetName, tv, policy);
    const release: string[] = [];
    let revert: { devices: string[]; to: string } | undefined;

    if (annotations[DEPLOYING] !== tv) {
      // A new template version (or the first policy rollout): start over; the version deployed so far is what a
      // revert goes back to.
      if (annotations[DEPLOYING]) annotations[PREVIOUS] = annotations[DEPLOYING];
      annotations[DEPLOYING] = tv;
      annotations[BATCH] = "-1";
      delete annotations[DISPATCHED_AT];
      delete annotations[REPORTED];
    }
    const active = (reason: string, message: string) =>
      (conditions = setCondition(conditions, {
        type: "RolloutInProgress",
        status: reason === "Inactive" ? "False" : "True",
        reason,
        message,
      }));

    let eligible: (d: DeviceView) => boolean = () => true;
    if (policy.deviceSelection) {
      let batch = Number(annotations[BATCH] ?? "-1");
      let proceed = true;
      if (batch >= 0) {
        const outcome = batchOutcome(policy, batch, devices, now, new Date(annotations[DISPATCHED_AT] ?? now.toISOString()));
        if (!outcome.complete) proceed = false;
        else {
          if (annotations[REPORTED] !== String(batch)) {
            annotations[REPORTED] = String(batch);
            events.push(
              fleetEvent(fleetName, {
                reason: "FleetRolloutBatchCompleted",
                type: "Normal",
                message: `${describeBatch(policy, batch)} of template version ${tv} completed: ${outcome.successPercentage}% successful (${outcome.successful} of ${outcome.total}, ${outcome.failed} failed, ${outcome.timedOut} timed out).`,
                details: {
                  detailType: "FleetRolloutBatchCompleted",
                  templateVersion: tv,
                  batch: describeBatch(policy, batch),
                  successPercentage: outcome.successPercentage,
                  total: outcome.total,
                  successful: outcome.successful,
                  failed: outcome.failed,
                  timedOut: outcome.timedOut,
                },
              }),
            );
          }
          if (!outcome.passed) {
            proceed = false;
            again = false;
            const message = `${describeBatch(policy, batch)} reached ${outcome.successPercentage}%, below its success threshold of ${outcome.threshold}%`;
            active("Suspended", message);
            if ((policy as { onFailure?: string }).onFailure === "revert" && annotations[REVERTED] !== tv) {
              annotations[REVERTED] = tv;
              const updated = devices.filter((d) => d.selectedBatch !== undefined && d.assigned).map((d) => d.name);
              const to = annotations[PREVIOUS];
              if (to && updated.length) revert = { devices: updated, to };
              events.push(
                fleetEvent(fleetName, {
                  reason: "FleetRolloutFailed",
                  type: "Warning",
                  message: to
                    ? `${message}; reverting ${updated.length} device(s) to template version ${to}: ${updated.join(", ")}`
                    : `${message}; no earlier template version to revert to`,
                  details: { detailType: "FleetRolloutFailed", templateVersion: tv },
                }),
              );
            }
          }
        }
      }
      if (proceed) {
        const next = batch + 1;
        if (next >= batchCount(policy)) {
          if (conditions.find((c) => c.type === "RolloutInProgress")?.reason !== "Inactive") {
            events.push(
              fleetEvent(fleetName, {
                reason: "FleetRolloutCompleted",
                type: "Normal",
                message: `Rollout of template version ${tv} completed.`,
                details: { detailType: "FleetRolloutCompleted", templateVersion: tv },
              }),
            );
          }
          active("Inactive", `template version ${tv} rolled out`);
          again = false;
        } else {
          const selected = selectBatch(policy, next, devices);
          const chosen = new Set(selected);
          for (const d of devices) if (chosen.has(d.name)) d.selectedBatch = next;
          await deviceStore.annotate(orgId, selected, ANNOTATION_SELECTED_FOR_ROLLOUT, `${tv}/${next}`);
          batch = next;
          annotations[BATCH] = String(next);
          annotations[DISPATCHED_AT] = now.toISOString();
          events.push(
            fleetEvent(fleetName, {
              reason: "FleetRolloutBatchDispatched",
              type: "Normal",
              message: `${describeBatch(policy, next)} of template version ${tv} dispatched to ${selected.length} device(s).`,
              details: { detailType: "FleetRolloutBatchDispatched", templateVersion: tv, batch: describeBatch(policy, next) },
            }),
          );
          active("Active", `${describeBatch(policy, next)} of template version ${tv} is rolling out`);
        }
      } else if (again) {
        active("Active", `${describeBatch(policy, batch)} of template version ${tv} is rolling out`);
      }
      const upTo = batch;
      const suspended = conditions.find((c) => c.type === "RolloutInProgress")?.reason === "Suspended";
      // Dispatched batches are released (under the budget); after the last batch, late joiners are too.
      eligible = (d) => !suspended && d.selectedBatch !== undefined && d.selectedBatch <= upTo;
      if (!again && !suspended) eligible = (d) => d.connected;
    } else {
      const pending = devices.some((d) => !d.assigned || (!d.updatedToTarget && !d.failed));
      if (pending) active("Active", `template version ${tv} is rolling out under the disruption budget`);
      else {
        active("Inactive", `template version ${tv} rolled out`);
        again = false;
      }
    }
    const view = budgetView(devices, eligible);
    release.push(
      ...(policy.disruptionBudget ? releaseUnderBudget(policy.disruptionBudget, view) : view.filter((d) => d.pending).map((d) => d.name)),
    );
    // Ticks go on while the rollout is active or devices still wait for (or are using) the budget; not when suspended.
    const suspended = conditions.some((c) => c.type === "RolloutInProgress" && c.reason === "Suspended");
    again = !suspended && (again || view.some((d) => d.pending) || view.some((d) => d.busy && d.connected));

    if (release.length) await opts.apply(orgId, fleetName, release);
    if (revert) await opts.apply(orgId, fleetName, revert.devices, revert.to);
    await db.transaction(async (tx) => {
      const changed = !isDeepStrictEqual(annotations, fleet.annotations) || !isDeepStrictEqual(conditions, status.conditions ?? []);
      await fleetStore.write(tx, orgId, fleetName, changed ? { annotations, status: { ...status, conditions } } : undefined, events);
    });
    return again;
  }

  const tasks: TaskHandlers<"fleet_rollout_tick" | "fleet_rollout_sweep"> = {
    [TASK_FLEET_ROLLOUT_TICK]: async (payload) => {
      const { orgId, fleet } = payload;
      if (await tick(orgId, fleet)) await enqueueTick(orgId, fleet, opts.tickSeconds);
    },
    // Safety net on the crontab: a fleet whose tick chain broke (a job that failed for good) is picked up again.
    [TASK_FLEET_ROLLOUT_SWEEP]: async () => {
      for (const f of await fleetStore.activeRollouts()) await enqueueTick(f.orgId, f.name, 0);
    },
  };
  return { tick, plan, enqueueTick, tasks };
}
