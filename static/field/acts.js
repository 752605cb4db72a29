// Every act of the technician or the customer: refused here already if the server would refuse it (the flow's
// declaration, on the payload too), else queued in the outbox, shown at once, and sent when there is a network.
import * as store from "./store.js";
import * as sync from "./sync.js";
import * as flow from "./flow.js";
import { announce, forgetDrafts, renderStatus, rerender } from "./ui.js";

// What the server knows about the job (its facts) with this phone's pending ops applied on top (store.js).
export function factsOf(job) {
  return job.facts || {};
}

// After an op is queued: the status line counts it, and the outbox is sent if the network is there.
export async function queued() {
  await renderStatus();
  sync.flush().then(() => { sync.requestBackgroundSync(); });
}

export async function act(kind, stale, data, photo = null, draftKeys = []) {
  const job = (await store.getJob(stale.number)) || stale;  // an unchanged part kept from an earlier drawing
  const refusal = flow.check(await store.getFlow(), factsOf(job), kind, data);  // the rules on the payload too
  if (refusal) { announce(refusal.message); return false; }
  announce();
  await store.addOp(kind, job.number, data, photo);
  await forgetDrafts(draftKeys);
  await queued();
  await rerender();
  return true;
}
