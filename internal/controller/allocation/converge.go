package allocation

import (
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ironlb/ironlb/internal/allocator"
	"github.com/ironlb/ironlb/internal/svcinfo"
)

// Event reasons, as MetalLB's controller records them.
const (
	ReasonIPAllocated            = "IPAllocated"
	ReasonAllocationFailed       = "AllocationFailed"
	ReasonClearAssignment        = "ClearAssignment"
	ReasonLoadBalancerFailed     = "LoadBalancerFailed"
	ReasonDeprecatedAnnotation   = "deprecatedAnnotation"
	ReasonAdditionalAssignFailed = "AdditionalAssignFailed"
	ReasonNotEnoughClusterIPs    = "not enough clusterips"
	// ReasonUnknownPool is ironlb's own: MetalLB fails the Service outright, ironlb
	// falls back to any auto-assign pool (the documented behaviour) and says so.
	ReasonUnknownPool = "UnknownPool"
)

// Event is one event to record on the Service.
type Event struct {
	Type, Reason, Message string
}

// decision is what converge decided for one Service.
type decision struct {
	ips      []netip.Addr // nil = no IP
	pool     string
	events   []Event
	pending  bool         // wants an IP and has none
	freed    bool         // released IPs others may be waiting for
	freedIPs []netip.Addr // which ones (some may still be shared)
	// retired: the Service gave up IPs its status may still show; they stay
	// reserved until the status write without them is confirmed (EndRelease).
	retired bool
	touched []string
	err     error // why the Service has no IP, when pending
}

// convergeLocked decides the IPs of one Service of ours, holding s.mu. It follows
// MetalLB's order: keep the current IPs when they are still allowed, else requested
// IPs, else the annotated pool, else any matching auto-assign pool.
func (s *State) convergeLocked(svc *corev1.Service, nsLabels map[string]string) decision {
	key := svcinfo.Key(svc)
	asvc := toAllocatorService(svc, nsLabels)
	current := svcinfo.IngressIPs(svc)
	requested, reqErr := svcinfo.RequestedIPs(svc)
	poolName, hasPool := svcinfo.Annotation(svc, svcinfo.AnnotationAddressPool)
	_, poolExists := s.pools[poolName]
	var d decision

	prevPool, prevIPs, had := s.alloc.Get(key)
	if had {
		d.touched = append(d.touched, prevPool)
	}

	if asvc.DualStack == allocator.RequireDualStack && len(svc.Spec.ClusterIPs) == 1 {
		// The API server gives RequireDualStack Services two cluster IPs; one means
		// the cluster is not dual-stack and no pool can serve the Service as asked.
		d.retired = s.retireLocked(key, had)
		d.pending, d.err = true, fmt.Errorf("service requires dual stack but has one cluster IP")
		d.events = append(d.events, Event{corev1.EventTypeWarning, ReasonNotEnoughClusterIPs,
			fmt.Sprintf("Service requires dual stack but not enough clusterips %q: make the cluster dual-stack or set ipFamilyPolicy to PreferDualStack", svc.Spec.ClusterIPs)})
		return d
	}

	if reqErr != nil && len(current) > 0 {
		// A bad request must not cost the Service the IP it has: keep it, and say
		// what is wrong with the request.
		if pool, err := s.alloc.Assign(asvc, current, ""); err == nil {
			d.ips, d.pool = current, pool
			d.events = append(d.events, Event{corev1.EventTypeWarning, ReasonLoadBalancerFailed,
				fmt.Sprintf("invalid requested loadbalancer IPs: %v; keeping the current IPs until the request is fixed", reqErr)})
			d.touched = append(d.touched, pool)
			return d
		}
	}
	if reqErr != nil {
		d.retired = s.retireLocked(key, had)
		d.pending, d.err = true, reqErr
		d.events = append(d.events, Event{corev1.EventTypeWarning, ReasonAllocationFailed,
			fmt.Sprintf("Failed to allocate IP for %q: %v", key, reqErr)})
		return d
	}

	if len(current) > 0 {
		var constrain string
		if hasPool && poolExists {
			constrain = poolName
		}
		pool, err := s.alloc.Assign(asvc, current, constrain)
		switch {
		case err != nil:
		case len(requested) > 0 && !sameIPs(requested, current):
			err = fmt.Errorf("requested IPs %v differ from the current IPs %v", ipStrings(requested), ipStrings(current))
		}
		if err == nil {
			d.ips, d.pool = current, pool
			d.touched = append(d.touched, pool)
			if had && (prevPool != pool || !sameIPs(prevIPs, current)) {
				d.freed = true
				d.freedIPs = prevIPs
			}
			// PreferDualStack with one family: add the other from the same pool when
			// it has room, as MetalLB does on every pass; when it has none, the
			// Service keeps working with one family and no event repeats.
			if asvc.DualStack == allocator.PreferDualStack && len(asvc.Families) == 2 && len(current) == 1 && len(requested) == 0 {
				if extra, err := s.alloc.AllocateAdditionalFamily(asvc); err == nil {
					d.ips = append(slices.Clone(current), extra)
					d.events = append(d.events, Event{corev1.EventTypeNormal, ReasonIPAllocated,
						fmt.Sprintf("Assigned additional IP %q", extra.String())})
				} else {
					// Still wants its second family: retry it with the pending
					// Services when addresses are freed or pools change. Say so once,
					// not on every retry (MetalLB repeats it on every pass).
					d.pending = true
					if _, told := s.pending[svcKey(svc)]; !told {
						d.events = append(d.events, Event{corev1.EventTypeNormal, ReasonAdditionalAssignFailed,
							fmt.Sprintf("cannot assign additional IP in PreferDualStack: %v", err)})
					}
				}
			}
			return d
		}
		d.events = append(d.events, Event{corev1.EventTypeNormal, ReasonClearAssignment,
			fmt.Sprintf("current IP for %q not allowed by config, will attempt for new IP assignment: %v", key, err)})
		d.retired = s.retireLocked(key, had)
	} else if had {
		// We hold IPs the Service's status does not show (a write that failed, or
		// status edited by hand): start from what the status says. The caller
		// made sure this view is not older than our last write; the IPs stay
		// reserved until the next status write is confirmed all the same.
		d.retired = s.retireLocked(key, true)
	}

	var (
		ips  []netip.Addr
		pool string
		err  error
	)
	switch {
	case len(requested) > 0:
		var constrain string
		if hasPool && poolExists {
			constrain = poolName
		}
		pool, err = s.alloc.Assign(asvc, requested, constrain)
		ips = requested
	case hasPool && poolExists:
		pool = poolName
		ips, err = s.alloc.AllocateFromPool(asvc, poolName)
	default:
		if hasPool {
			d.events = append(d.events, Event{corev1.EventTypeWarning, ReasonUnknownPool,
				fmt.Sprintf("the address-pool annotation names pool %q, which does not exist; allocating from any auto-assign pool instead. Create the IPAddressPool %q or fix the annotation", poolName, poolName)})
		}
		pool, ips, err = s.alloc.Allocate(asvc)
	}
	if err != nil {
		d.pending, d.err = true, err
		d.events = append(d.events, Event{corev1.EventTypeWarning, ReasonAllocationFailed,
			fmt.Sprintf("Failed to allocate IP for %q: %v", key, err)})
		return d
	}
	d.ips, d.pool = ips, pool
	d.touched = append(d.touched, pool)
	d.events = append(d.events, Event{corev1.EventTypeNormal, ReasonIPAllocated,
		fmt.Sprintf("Assigned IP %q", ipStrings(ips))})
	return d
}

// retireLocked gives up the Service's IPs without freeing them: its status may
// still show them, so nobody else gets them until the status write without them
// is confirmed (endReleaseLocked). It reports whether the Service held any.
func (s *State) retireLocked(key string, had bool) bool {
	if !had {
		return false
	}
	s.alloc.Retire(key)
	return true
}

func sameIPs(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.SortFunc(x, netip.Addr.Compare)
	slices.SortFunc(y, netip.Addr.Compare)
	return slices.Equal(x, y)
}

func ipStrings(ips []netip.Addr) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

func svcKey(svc *corev1.Service) types.NamespacedName {
	return types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
}
