package whyapp

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/controller/allocation"
	"github.com/ironlb/ironlb/internal/svcinfo"
)

// PoolsOptions say where ironlb's configuration lives.
type PoolsOptions struct {
	ConfigNamespace string // metallb-system
	LBClass         string
}

// Pools writes `kubectl ironlb pools`: every IPAddressPool with its ranges, used and
// free addresses per family and the Services holding its IPs, as the controller
// sees them (the same rebuild as `why`), and for each rejected pool, why.
func Pools(ctx context.Context, c client.Reader, o PoolsOptions, w io.Writer) error {
	var crs metallbv1beta1.IPAddressPoolList
	if err := c.List(ctx, &crs, client.InNamespace(o.ConfigNamespace)); err != nil {
		return fmt.Errorf("listing IPAddressPools in %s: %w", o.ConfigNamespace, err)
	}
	sums, problems, err := allocation.Pools(ctx, c, o.ConfigNamespace, o.LBClass)
	if err != nil {
		return err
	}
	var svcs corev1.ServiceList
	if err := c.List(ctx, &svcs); err != nil {
		return fmt.Errorf("listing Services: %w", err)
	}
	holders := map[string][]string{}
	for i := range svcs.Items {
		s := &svcs.Items[i]
		pool := s.Annotations[svcinfo.PoolAnnotationKey]
		ips := svcinfo.IngressIPsStrings(s)
		if pool == "" || len(ips) == 0 || !svcinfo.IsOurs(s, o.LBClass) {
			continue
		}
		holders[pool] = append(holders[pool], fmt.Sprintf("%s/%s (%s)", s.Namespace, s.Name, strings.Join(ips, ", ")))
	}
	problemsOf := map[string][]string{}
	for _, p := range problems {
		problemsOf[p.Object] = append(problemsOf[p.Object], p.String())
	}
	inUse := map[string]allocation.PoolSummary{}
	for _, s := range sums {
		inUse[s.Name] = s
	}

	p := printer{w: w}
	if len(crs.Items) == 0 {
		p.line("No IPAddressPool in namespace %s: create one (see docs/allocation.md).", o.ConfigNamespace)
		return p.err
	}
	sort.Slice(crs.Items, func(i, j int) bool { return crs.Items[i].Name < crs.Items[j].Name })
	for i, cr := range crs.Items {
		if i > 0 {
			p.line("")
		}
		sum, ok := inUse[cr.Name]
		if !ok {
			p.line("IPAddressPool %s/%s: REJECTED", cr.Namespace, cr.Name)
			p.field("Addresses", "%s", strings.Join(cr.Spec.Addresses, ", "))
			why := problemsOf[cr.Name]
			if len(why) == 0 {
				why = []string{"not used by the controller (see the events on the pool and the ConfigurationState objects)"}
			}
			for _, m := range why {
				p.field("Why", "%s", m)
			}
			continue
		}
		p.line("IPAddressPool %s/%s", cr.Namespace, cr.Name)
		p.field("Ranges", "%s", strings.Join(sum.Ranges, ", "))
		if sum.AutoAssign {
			p.field("Assignment", "automatic")
		} else {
			p.field("Assignment", "only to Services that name it (autoAssign: false)")
		}
		st := sum.Stats
		p.field("IPv4", "%d used / %d free", st.AssignedIPv4, st.AvailableIPv4)
		p.field("IPv6", "%d used / %d free", st.AssignedIPv6, st.AvailableIPv6)
		for _, m := range problemsOf[cr.Name] {
			p.field("Problem", "%s", m)
		}
		h := holders[cr.Name]
		sort.Strings(h)
		if len(h) == 0 {
			p.field("Services", "none")
		}
		for _, s := range h {
			p.field("Service", "%s", s)
		}
	}
	// Problems naming no existing pool (deleted since, or about the config as a whole).
	var orphan []string
	for name, ms := range problemsOf {
		found := false
		for _, cr := range crs.Items {
			found = found || cr.Name == name
		}
		if !found {
			orphan = append(orphan, ms...)
		}
	}
	sort.Strings(orphan)
	for _, m := range orphan {
		p.line("")
		p.field("Config problem", "%s", m)
	}
	return p.err
}
