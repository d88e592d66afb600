// Package whyapp is `kubectl ironlb why`: one command that says whether a Service has
// its IP, and if not, why and what to do. It asks the controller's own code (a dry
// run of the allocation over the cluster's pools and Services), so the reason it
// gives is the controller's reason, then adds what the speakers report.
package whyapp

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/controller/allocation"
	"github.com/ironlb/ironlb/internal/svcinfo"
)

// Options say which Service to explain and where ironlb's configuration lives.
type Options struct {
	Namespace, Name string // the Service
	ConfigNamespace string // metallb-system
	LBClass         string
}

// Run writes the explanation of one Service to w.
func Run(ctx context.Context, c client.Reader, o Options, w io.Writer) error {
	var svc corev1.Service
	if err := c.Get(ctx, types.NamespacedName{Namespace: o.Namespace, Name: o.Name}, &svc); err != nil {
		return fmt.Errorf("reading Service %s/%s: %w", o.Namespace, o.Name, err)
	}
	p := printer{w: w}
	p.line("Service %s/%s", svc.Namespace, svc.Name)
	if !svcinfo.IsOurs(&svc, o.LBClass) {
		switch {
		case svc.Spec.Type != corev1.ServiceTypeLoadBalancer:
			p.field("Not ours", "type is %s; only type LoadBalancer Services get an external IP", svc.Spec.Type)
		default:
			class := "<none>"
			if svc.Spec.LoadBalancerClass != nil {
				class = *svc.Spec.LoadBalancerClass
			}
			want := "no class"
			if o.LBClass != "" {
				want = "class " + o.LBClass
			}
			p.field("Not ours", "spec.loadBalancerClass is %s and ironlb serves %s: another load balancer should handle it", class, want)
		}
		return p.err
	}

	dry, err := allocation.DryRunFor(ctx, c, o.ConfigNamespace, o.LBClass, &svc)
	if err != nil {
		return err
	}
	have := svcinfo.IngressIPsStrings(&svc)
	switch {
	case len(have) > 0:
		p.field("IPs", "%s (pool %s)", strings.Join(have, ", "), orNone(svc.Annotations[svcinfo.PoolAnnotationKey]))
	default:
		p.field("IPs", "none yet: the Service is <pending>")
	}
	switch {
	case dry.Pending:
		p.field("Allocation", "FAILS: %s", reasonOf(dry.Events))
		if h := allocation.Hint(dry.Err); h != "" {
			p.field("What to do", "%s", h)
		}
	case len(have) == 0:
		p.field("Allocation", "would give %s from pool %s now: the controller may not have run yet (is it running and leader?)", ipList(dry), dry.Pool)
	default:
		p.field("Allocation", "ok: the controller keeps these IPs")
	}
	for _, e := range dry.Events {
		if e.Type == corev1.EventTypeWarning && e.Reason != allocation.ReasonAllocationFailed {
			p.field("Note", "%s: %s", e.Reason, e.Message)
		}
	}
	if len(dry.Pools) == 0 {
		p.field("Pools", "none usable in namespace %s: create an IPAddressPool there", o.ConfigNamespace)
	}
	for _, pool := range dry.Pools {
		auto := "auto-assign"
		if !pool.AutoAssign {
			auto = "only when named (autoAssign: false)"
		}
		p.field("Pool", "%s %s, %s, IPv4 %d used / %d free, IPv6 %d used / %d free", pool.Name, strings.Join(pool.Ranges, ","), auto,
			pool.Stats.AssignedIPv4, pool.Stats.AvailableIPv4, pool.Stats.AssignedIPv6, pool.Stats.AvailableIPv6)
	}
	for _, prob := range dry.Problems {
		p.field("Config problem", "%s", prob.String())
	}
	if len(have) > 0 {
		if err := explainAnnouncement(ctx, c, o, &svc, &p); err != nil {
			return err
		}
	}
	return p.err
}

func explainAnnouncement(ctx context.Context, c client.Reader, o Options, svc *corev1.Service, p *printer) error {
	var statuses metallbv1beta1.ServiceL2StatusList
	if err := c.List(ctx, &statuses, client.InNamespace(o.ConfigNamespace), client.MatchingLabels{
		metallbv1beta1.LabelServiceName: svc.Name, metallbv1beta1.LabelServiceNamespace: svc.Namespace,
	}); err != nil {
		return fmt.Errorf("listing ServiceL2Status: %w", err)
	}
	var nodes []string
	for _, s := range statuses.Items {
		ifaces := "all interfaces"
		if len(s.Status.Interfaces) > 0 {
			var names []string
			for _, i := range s.Status.Interfaces {
				names = append(names, i.Name)
			}
			ifaces = strings.Join(names, ",")
		}
		nodes = append(nodes, fmt.Sprintf("%s (%s)", s.Status.Node, ifaces))
	}
	sort.Strings(nodes)
	if len(nodes) > 0 {
		p.field("Announced", "layer 2 from %s", strings.Join(nodes, ", "))
		return nil
	}
	var ads metallbv1beta1.L2AdvertisementList
	if err := c.List(ctx, &ads, client.InNamespace(o.ConfigNamespace)); err != nil {
		return fmt.Errorf("listing L2Advertisements: %w", err)
	}
	if len(ads.Items) == 0 {
		p.field("Announced", "no: there is no L2Advertisement in %s, so no speaker announces any IP. Create one (an empty spec selects every pool and node)", o.ConfigNamespace)
		return nil
	}
	p.field("Announced", "no speaker reports announcing it (no ServiceL2Status). Check that an L2Advertisement selects pool %s, a node and this Service; that the Service has ready endpoints (on an eligible node, with externalTrafficPolicy Local); and the speakers' ConfigurationState speaker-<node>",
		orNone(svc.Annotations[svcinfo.PoolAnnotationKey]))
	return nil
}

func reasonOf(events []allocation.Event) string {
	for _, e := range events {
		if e.Reason == allocation.ReasonAllocationFailed || e.Reason == allocation.ReasonNotEnoughClusterIPs {
			return e.Message
		}
	}
	return "unknown"
}

func ipList(d allocation.DryRun) string {
	var s []string
	for _, ip := range d.IPs {
		s = append(s, ip.String())
	}
	return strings.Join(s, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// printer writes aligned "Field: text" lines and keeps the first write error.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) line(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format+"\n", args...)
	}
}

func (p *printer) field(name, format string, args ...any) {
	p.line("  %-15s %s", name+":", fmt.Sprintf(format, args...))
}
