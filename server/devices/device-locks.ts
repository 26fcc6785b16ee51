// Row locks on devices, always taken in (org, name) order: the statement lives in the device store (device-store.ts).
/** Locks devices in (org, name) order until the transaction ends; see device-store.ts. */
export { lockDevices } from "./device-store.js";
