package lab

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
)

// Defaults of the demo configuration.
const (
	DemoPool = "lab-pool"
	DemoL2   = "lab-l2"
	DemoSvc  = "demo"
	// NodeIndexLabel holds the node's index on every lab Node.
	NodeIndexLabel = "lab.ironlb.io/index"
)

// DemoPoolAddresses is the demo pool: 192.0.2.200-192.0.2.220 and
// 2001:db8::200-2001:db8::220 (the IPv6 range only when IPv6 is on).
var DemoPoolAddresses = []string{"192.0.2.200-192.0.2.220", "2001:db8::200-2001:db8::220"}

func (l *Lab) createBase(ctx context.Context) error {
	c := l.kube
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := createOrIgnore(ctx, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}); err != nil {
		return err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	if err := createOrIgnore(ctx, c, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "memberlist", Namespace: Namespace},
		Data:       map[string][]byte{"secretkey": key},
	}); err != nil {
		return err
	}
	for i := 1; i <= l.Opts.Nodes; i++ {
		if err := l.createNode(ctx, i); err != nil {
			return err
		}
	}
	return nil
}

// createNode plays kubelet: a Ready Node with the node's data address as
// InternalIP.
func (l *Lab) createNode(ctx context.Context, i int) error {
	n := l.Net.Node(i)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name: NodeName(i),
		Labels: map[string]string{
			"kubernetes.io/hostname": NodeName(i),
			"kubernetes.io/os":       "linux",
			NodeIndexLabel:           strconv.Itoa(i),
		},
	}}
	if err := l.kube.Create(ctx, node); err != nil {
		return err
	}
	now := metav1.Now()
	node.Status = corev1.NodeStatus{
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: n.IPv4.String()},
			{Type: corev1.NodeHostName, Address: NodeName(i)},
		},
		Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			Message: "lab node", LastHeartbeatTime: now, LastTransitionTime: now,
		}},
	}
	return l.kube.Status().Update(ctx, node)
}

func createOrIgnore(ctx context.Context, c client.Client, obj client.Object) error {
	if err := c.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
	}
	return nil
}

func (l *Lab) createDemo(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	addrs := DemoPoolAddresses
	if l.Opts.NoIPv6 {
		addrs = addrs[:1]
	}
	if err := createOrIgnore(ctx, l.kube, &metallbv1beta1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Name: DemoPool, Namespace: Namespace},
		Spec:       metallbv1beta1.IPAddressPoolSpec{Addresses: addrs},
	}); err != nil {
		return err
	}
	if err := createOrIgnore(ctx, l.kube, &metallbv1beta1.L2Advertisement{
		ObjectMeta: metav1.ObjectMeta{Name: DemoL2, Namespace: Namespace},
		Spec:       metallbv1beta1.L2AdvertisementSpec{IPAddressPools: []string{DemoPool}},
	}); err != nil {
		return err
	}
	svc := l.NewLBService("default", DemoSvc, 80)
	svc.Annotations = map[string]string{"metallb.io/address-pool": DemoPool}
	return l.CreateService(ctx, svc, l.AllNodes())
}

// AllNodes is [1..Nodes].
func (l *Lab) AllNodes() []int {
	out := make([]int, l.Opts.Nodes)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

// NewLBService returns (does not create) a selector-less LoadBalancer Service
// with one TCP port, dual-stack (PreferDualStack) when the lab has IPv6.
func (l *Lab) NewLBService(ns, name string, port int32) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{
			Type:  corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{{Name: "tcp", Protocol: corev1.ProtocolTCP, Port: port, TargetPort: intstr.FromInt32(port)}},
		},
	}
	if !l.Opts.NoIPv6 {
		svc.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyPreferDualStack)
		svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	}
	return svc
}

// CreateService creates svc and its EndpointSlices with one ready endpoint on
// each of nodes.
func (l *Lab) CreateService(ctx context.Context, svc *corev1.Service, nodes []int) error {
	if err := l.kube.Create(ctx, svc); err != nil {
		return fmt.Errorf("creating Service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	return l.SetEndpoints(ctx, svc.Namespace, svc.Name, nodes)
}

// PodIP is the (fictional) address of the backend on node i.
func PodIP(i int, v6 bool) string {
	if v6 {
		return fmt.Sprintf("2001:db8:1::%d", 10+i)
	}
	return fmt.Sprintf("198.19.0.%d", 10+i)
}

// SetEndpoints plays kube-controller-manager: the Service's EndpointSlices
// (one per family) hold exactly one ready endpoint per node in nodes, with
// the Service's ports.
func (l *Lab) SetEndpoints(ctx context.Context, ns, name string, nodes []int) error {
	var svc corev1.Service
	if err := l.kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &svc); err != nil {
		return err
	}
	var ports []discoveryv1.EndpointPort
	for _, p := range svc.Spec.Ports {
		ports = append(ports, discoveryv1.EndpointPort{Name: ptr.To(p.Name), Protocol: ptr.To(p.Protocol), Port: ptr.To(p.Port)})
	}
	families := []bool{false}
	if !l.Opts.NoIPv6 {
		families = append(families, true)
	}
	for _, v6 := range families {
		at, suffix := discoveryv1.AddressTypeIPv4, "v4"
		if v6 {
			at, suffix = discoveryv1.AddressTypeIPv6, "v6"
		}
		var eps []discoveryv1.Endpoint
		for _, i := range nodes {
			eps = append(eps, discoveryv1.Endpoint{
				Addresses:  []string{PodIP(i, v6)},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
				NodeName:   ptr.To(NodeName(i)),
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: fmt.Sprintf("%s-%s", name, NodeName(i))},
			})
		}
		es := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{
				Name: name + "-" + suffix, Namespace: ns,
				Labels: map[string]string{
					discoveryv1.LabelServiceName: name,
					discoveryv1.LabelManagedBy:   "lab.ironlb.io",
				},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: name, UID: svc.UID}},
			},
			AddressType: at,
			Endpoints:   eps,
			Ports:       ports,
		}
		var cur discoveryv1.EndpointSlice
		err := l.kube.Get(ctx, client.ObjectKeyFromObject(es), &cur)
		switch {
		case apierrors.IsNotFound(err):
			if err := l.kube.Create(ctx, es); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			cur.Endpoints, cur.Ports = es.Endpoints, es.Ports
			if err := l.kube.Update(ctx, &cur); err != nil {
				return err
			}
		}
	}
	return nil
}

// ServiceIPs returns the Service's status.loadBalancer.ingress IPs.
func (l *Lab) ServiceIPs(ctx context.Context, ns, name string) ([]string, error) {
	var svc corev1.Service
	if err := l.kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &svc); err != nil {
		return nil, err
	}
	var out []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if in.IP != "" {
			out = append(out, in.IP)
		}
	}
	return out, nil
}

// WaitServiceIPs waits until the Service has at least want ingress IPs.
func (l *Lab) WaitServiceIPs(ctx context.Context, ns, name string, want int, timeout time.Duration) ([]string, error) {
	var ips []string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		var err error
		ips, err = l.ServiceIPs(ctx, ns, name)
		return err == nil && len(ips) >= want, nil
	})
	if err != nil {
		return ips, fmt.Errorf("Service %s/%s has IPs %v, want %d: %w", ns, name, ips, want, err)
	}
	return ips, nil
}

// kubeProxyLoop plays kube-proxy: every Service IP in status gets a local
// route on every node (so the node's server answers for it once the client
// sends it there), and routes of IPs no longer in use are removed.
func (l *Lab) kubeProxyLoop(ctx context.Context) {
	installed := map[string]bool{}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		var list corev1.ServiceList
		if err := l.kube.List(ctx, &list); err == nil {
			want := map[string]bool{}
			for _, s := range list.Items {
				if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
					continue
				}
				for _, in := range s.Status.LoadBalancer.Ingress {
					if _, err := netip.ParseAddr(in.IP); err == nil {
						want[in.IP] = true
					}
				}
			}
			for ip := range want {
				if !installed[ip] && l.localRoute("replace", ip) == nil {
					installed[ip] = true
				}
			}
			for ip := range installed {
				if !want[ip] {
					_ = l.localRoute("del", ip)
					delete(installed, ip)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (l *Lab) localRoute(op, ip string) error {
	fam := "-4"
	if strings.Contains(ip, ":") {
		fam = "-6"
	}
	var errs []string
	for i := 1; i <= l.Opts.Nodes; i++ {
		if _, err := l.Net.Run(l.Net.NodeNS(i), "ip", fam, "route", op, "local", ip, "dev", "lo", "table", "local"); err != nil && op != "del" {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// ServiceL2Statuses returns the ServiceL2Status objects of a Service as
// node -> interface names (sorted).
func (l *Lab) ServiceL2Statuses(ctx context.Context, ns, name string) (map[string][]string, error) {
	var list metallbv1beta1.ServiceL2StatusList
	if err := l.kube.List(ctx, &list, client.InNamespace(Namespace)); err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, s := range list.Items {
		if s.Status.ServiceName != name || s.Status.ServiceNamespace != ns {
			continue
		}
		var ifs []string
		for _, i := range s.Status.Interfaces {
			ifs = append(ifs, i.Name)
		}
		sort.Strings(ifs)
		out[s.Status.Node] = ifs
	}
	return out, nil
}

// ServiceEvents returns "Type Reason: Message" for the events on a Service.
func (l *Lab) ServiceEvents(ctx context.Context, ns, name string) ([]corev1.Event, error) {
	var list corev1.EventList
	if err := l.kube.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var out []corev1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.Kind == "Service" && e.InvolvedObject.Name == name {
			out = append(out, e)
		}
	}
	return out, nil
}
