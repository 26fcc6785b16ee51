// V8 settings of the processes that hold the agents' streams (flightctl-api, and npm start's all-in-one process).
// V8's memory reducer runs full GCs once a process's allocation rate falls (as when agents stop connecting and go
// idle): up to three in a row, each marking the whole heap (≈ 250 MB at 10,000 streams; at 3,000, ≈ 80 MB, the three
// cost 0.6 s of CPU within 1.5 s, measured with --trace-gc), and again after every full GC the steady trickle of
// promoted garbage (heartbeats) brings. One is enough: the heap it leaves is what the streams hold (3,000 streams, the
// three: committed heap 89.5 → 86.0 → 83.0 → 82.7 MB; later full GCs, which the reducer no longer follows, shrink it too).
import { setFlagsFromString } from "node:v8";

export function tuneStreamingHeap(): void {
  setFlagsFromString("--memory-reducer-single-gc");
}
