// Package speaker is ironlb's layer 2 speaker: it decides, per Service IP, which
// node answers ARP/NDP for it (MetalLB's rules, plus liveness quorum and interface
// awareness), hands this node's share to the announcer, and reports the result
// through ServiceL2Status objects, events, ConfigurationState and metrics.
//
// The decision (plan.go) is pure and split in two: NewPlan turns the cluster
// state into shared candidate lists; Plan.Decide filters them by a liveness view
// and elects. The Speaker (speaker.go) runs the loop; statusWriter (status.go)
// does the API writes off the announcement path. See README.md.
package speaker
