// Package workload generates a seeded, labelled organisation's worth of AWS
// audit logs: CloudTrail records and VPC flow log lines, with incidents
// injected at known times and a ground truth that names them.
//
// It exists so that trailwatch can be measured rather than believed: the
// benchmarks need a stream whose shape resembles a real organisation
// (heavy-tailed activity across principals, people working days while
// services run around the clock, a few per cent of calls failing, bodies of
// realistic size and nesting), and the detection-quality report needs to know
// which records are attacks, whose they are and which metric they should move,
// so that recall, false alerts per 1,000 principal-days and detection latency
// can be computed against it. The `trailwatch demo` command reuses it as live
// traffic.
//
// Everything is a function of Config: the same seed and configuration give
// byte-identical output, on any machine and Go release (the package carries
// its own random number generator for that reason). Generation streams minute
// by minute, so memory does not grow with Duration, and per-principal state is
// a few bytes so that a million principals is feasible. Bodies are built by
// appending to a reused buffer; encoding/json is not on the hot path.
//
// Principal keys on records and in the ground truth are the canonical keys
// trailwatch's decoders derive: the account id for Root, the user ARN for
// IAMUser, sessionContext.sessionIssuer.arn for AssumedRole (including
// AWSReservedSSO_* roles) and FederatedUser, invokedBy for AWSService,
// additionalEventData.UserName for IdentityCenterUser, and for flow logs the
// instance-id when the format carries one, else the interface-id.
package workload
