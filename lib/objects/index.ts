// The objects the control loop (lib/controller) and the speaker (lib/speaker) must read the same
// way, parsed in one place: a speaker Lease (whose it is, released or not, fresh until when) and
// an L2LBService (whose, which address, which nodes, what its status says).
//
// Each kind has a `...Fields` shape (what a jqFilter or the `...Fields(object)` helper cuts from
// the object), a `read...` function that turns those fields into a typed record or an error that
// names the object and the field, and the rules both sides share (`isLeaseFresh`; the speaker's
// monotonic `observeLeases`/`liveUntil`; `problems` of a malformed L2LBService).
export type { Parsed } from './parsed';
export {
  isLeaseFresh,
  leaseExpiresAt,
  leaseFields,
  liveUntil,
  microTime,
  observeLeases,
  readLease,
  type LeaseFields,
  type LeaseSighting,
} from './lease';
export {
  l2lbServiceFields,
  readL2LBService,
  readL2LBServiceStatus,
  type L2LBServiceFields,
  type L2LBServicePort,
  type L2LBServiceRecord,
  type L2LBServiceStatus,
} from './l2lbservice';
