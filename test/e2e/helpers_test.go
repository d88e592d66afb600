package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/test/lab"
)

// Generous deadlines: conditions, not timings, are asserted.
const (
	settle   = 60 * time.Second // announcement appears / moves
	failover = 60 * time.Second
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it returns true or timeout; on timeout the test
// fails with the last detail cond returned.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var detail string
	for {
		var ok bool
		ok, detail = cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v (last: %s)", what, timeout, detail)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// announcedBy waits until exactly node `want` answers for ip (want 0: until
// nobody answers). It fails at once on two answering nodes.
func announcedBy(t *testing.T, l *lab.Lab, ip string, want int) {
	t.Helper()
	eventually(t, settle, fmt.Sprintf("%s announced by %s", ip, nodeDesc(want)), func() (bool, string) {
		got, err := l.Announcers(ip)
		if err != nil {
			return false, err.Error()
		}
		if len(got) > 1 {
			t.Fatalf("%s answered by several nodes at once: %v", ip, got)
		}
		if want == 0 {
			return len(got) == 0, fmt.Sprintf("answered by %v", got)
		}
		return len(got) == 1 && got[0] == want, fmt.Sprintf("answered by %v", got)
	})
}

func nodeDesc(i int) string {
	if i == 0 {
		return "nobody"
	}
	return lab.NodeName(i)
}

// announcer waits until exactly one node answers for ip and returns it.
func announcer(t *testing.T, l *lab.Lab, ip string) int {
	t.Helper()
	var node int
	eventually(t, settle, ip+" announced by one node", func() (bool, string) {
		got, err := l.Announcers(ip)
		if err != nil {
			return false, err.Error()
		}
		if len(got) > 1 {
			t.Fatalf("%s answered by several nodes at once: %v", ip, got)
		}
		if len(got) == 1 && got[0] > 0 {
			node = got[0]
			return true, ""
		}
		return false, fmt.Sprintf("answered by %v", got)
	})
	return node
}

// silent checks that nobody answers for ip over a few arping rounds. Used
// after a positive control has shown the configuration was processed.
func silent(t *testing.T, l *lab.Lab, ip string, rounds int) {
	t.Helper()
	for r := 0; r < rounds; r++ {
		got, err := l.Announcers(ip)
		if err != nil {
			t.Fatalf("arping %s: %v", ip, err)
		}
		if len(got) != 0 {
			t.Fatalf("%s must not be announced, answered by %v", ip, got)
		}
	}
}

// dialedBy waits until a TCP connection from the client to ip:port is
// answered by node want.
func dialedBy(t *testing.T, l *lab.Lab, ip string, port, want int) {
	t.Helper()
	eventually(t, settle, fmt.Sprintf("TCP %s:%d from the client reaches %s", ip, port, lab.NodeName(want)), func() (bool, string) {
		got, err := l.Dial(ip, port)
		if err != nil {
			return false, err.Error()
		}
		return got == lab.NodeName(want), "answered by " + got
	})
}

func createPool(t *testing.T, l *lab.Lab, name string, lbls map[string]string, addrs ...string) {
	t.Helper()
	p := &metallbv1beta1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: lab.Namespace, Labels: lbls},
		Spec:       metallbv1beta1.IPAddressPoolSpec{Addresses: addrs},
	}
	create(t, l, p)
}

func createAd(t *testing.T, l *lab.Lab, name string, spec metallbv1beta1.L2AdvertisementSpec) *metallbv1beta1.L2Advertisement {
	t.Helper()
	ad := &metallbv1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: lab.Namespace}, Spec: spec}
	create(t, l, ad)
	return ad
}

// create creates obj and deletes it when the test ends.
func create(t *testing.T, l *lab.Lab, obj client.Object) {
	t.Helper()
	if err := l.Kube().Create(ctxT(t), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := l.Kube().Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			t.Logf("deleting %T %s: %v", obj, obj.GetName(), err)
		}
	})
}

// service creates a LoadBalancer Service named name in "default" taking its IP
// from pool, with endpoints on nodes, after mutate; it waits for its IPs
// (IPv4 pools only: one) and deletes it (and its EndpointSlices) at the end.
func service(t *testing.T, l *lab.Lab, name, pool string, port int32, nodes []int, mutate func(*corev1.Service)) (*corev1.Service, string) {
	t.Helper()
	svc := l.NewLBService("default", name, port)
	svc.Annotations = map[string]string{"metallb.io/address-pool": pool}
	if mutate != nil {
		mutate(svc)
	}
	ctx := ctxT(t)
	if err := l.CreateService(ctx, svc, nodes); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = l.Kube().Delete(ctx, svc)
		_ = l.Kube().DeleteAllOf(ctx, &discoveryv1.EndpointSlice{}, client.InNamespace("default"),
			client.MatchingLabels{discoveryv1.LabelServiceName: name})
	})
	ips, err := l.WaitServiceIPs(ctx, "default", name, 1, settle)
	if err != nil {
		t.Fatalf("%v\ncontroller log:\n%s", err, l.LogTail("controller", 10))
	}
	return svc, ips[0]
}

// patchNodeLabel sets (value != nil) or removes a label on node i.
func patchNodeLabel(t *testing.T, l *lab.Lab, i int, key string, value *string) {
	t.Helper()
	ctx := ctxT(t)
	var n corev1.Node
	if err := l.Kube().Get(ctx, client.ObjectKey{Name: lab.NodeName(i)}, &n); err != nil {
		t.Fatal(err)
	}
	orig := n.DeepCopy()
	if value == nil {
		delete(n.Labels, key)
	} else {
		n.Labels[key] = *value
	}
	if err := l.Kube().Patch(ctx, &n, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
}

func others(l *lab.Lab, not ...int) []int {
	var out []int
	for _, i := range l.AllNodes() {
		if !slices.Contains(not, i) {
			out = append(out, i)
		}
	}
	return out
}

func sel(key string, values ...string) metav1.LabelSelector {
	return metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: key, Operator: metav1.LabelSelectorOpIn, Values: values}}}
}

func itoa(i int) string { return fmt.Sprint(i) }

// hasEvent reports whether the Service has an event with reason whose
// message contains substr.
func hasEvent(ctx context.Context, l *lab.Lab, name, reason, substr string) (bool, string) {
	evs, err := l.ServiceEvents(ctx, "default", name)
	if err != nil {
		return false, err.Error()
	}
	var seen []string
	for _, e := range evs {
		seen = append(seen, e.Reason+": "+e.Message)
		if e.Reason == reason && strings.Contains(e.Message, substr) {
			return true, ""
		}
	}
	return false, strings.Join(seen, " | ")
}
