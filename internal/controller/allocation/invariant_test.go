package allocation

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/ironlb/ironlb/internal/allocator"
)

func inNS(ns string) svcMut { return func(s *corev1.Service) { s.Namespace = ns } }

// Restricting a full pool must not hand the evicted IP to a waiting Service while
// the evicted Service's status still shows it (issue 7: team-a/waiting got
// 192.0.2.0 while default/holder still showed it).
func TestEvictedIPStaysReservedUntilTheHolderStatusDropsIt(t *testing.T) {
	full := testPool("p", true, "192.0.2.0/32")
	s := newTestState(t, full)
	holder := testService("holder")
	if d := s.convergeLocked(holder, nil); len(d.ips) != 1 {
		t.Fatalf("holder: %+v", d)
	}
	restricted := full
	restricted.Allocation = &allocator.PoolAllocation{Namespaces: []string{"team-a"}}
	s.pools["p"] = restricted
	if ev := s.alloc.SetPools([]allocator.Pool{restricted}); !slices.Equal(ev, []string{"default/holder"}) {
		t.Fatalf("evicted %v", ev)
	}
	waiting := testService("waiting", inNS("team-a"))
	if d := s.convergeLocked(waiting, nil); !d.pending {
		t.Fatalf("team-a/waiting got %v while default/holder still shows it", d.ips)
	}
	// The holder's reconcile clears its IP; until its status write is confirmed
	// the IP stays reserved.
	d := s.convergeLocked(testService("holder", withIngress("192.0.2.0")), nil)
	if len(d.ips) != 0 || !d.pending {
		t.Fatalf("holder kept %v", d.ips)
	}
	if d := s.convergeLocked(waiting, nil); !d.pending {
		t.Fatalf("team-a/waiting got %v before default/holder's status write", d.ips)
	}
	freed := s.alloc.EndRelease("default/holder")
	if want := []netip.Addr{netip.MustParseAddr("192.0.2.0")}; !slices.Equal(freed, want) {
		t.Fatalf("freed %v", freed)
	}
	if retry := s.pendingForLocked(freed); len(retry) != 0 {
		t.Fatalf("nothing pending was recorded, got %v", retry)
	}
	if d := s.convergeLocked(waiting, nil); len(d.ips) != 1 || d.ips[0].String() != "192.0.2.0" {
		t.Fatalf("team-a/waiting after the release: %+v", d)
	}
}

// A Service whose IPs its requested IPs no longer allow keeps them reserved until
// its status drops them, whichever path gives them up.
func TestClearedIPsAreRetiredNotFreed(t *testing.T) {
	s := newTestState(t, testPool("a", true, "192.0.2.0/31"), testPool("b", true, "198.51.100.0/31"))
	if d := s.convergeLocked(testService("moving", withIngress("192.0.2.0")), nil); len(d.ips) != 1 {
		t.Fatalf("adopting: %+v", d)
	}
	d := s.convergeLocked(testService("moving", withIngress("192.0.2.0"), withAnnotation("metallb.io/address-pool", "b")), nil)
	if len(d.ips) != 1 || d.ips[0].String() != "198.51.100.0" {
		t.Fatalf("moving: %+v", d)
	}
	if got := s.alloc.Releasing("default/moving"); len(got) != 1 || got[0].String() != "192.0.2.0" {
		t.Fatalf("releasing %v", got)
	}
	if d := s.convergeLocked(testService("other", withSpecIP("192.0.2.0")), nil); !d.pending {
		t.Fatalf("default/other got %v while default/moving still shows it", d.ips)
	}
}

// A freed IP retries only the waiting Services its pool could serve.
func TestFreedIPRequeuesOnlyServicesThatCanUseIt(t *testing.T) {
	tenant := testPool("tenant", true, "192.0.2.0/32")
	tenant.Allocation = &allocator.PoolAllocation{Namespaces: []string{"team-a"}}
	s := newTestState(t, tenant, testPool("shared", true, "198.51.100.0/32"), testPool("manual", false, "203.0.113.0/32"))
	pend := func(ns, name string, info pendingInfo) types.NamespacedName {
		k := types.NamespacedName{Namespace: ns, Name: name}
		info.svc.Key, info.svc.Namespace = ns+"/"+name, ns
		s.markPendingLocked(k, true, info)
		return k
	}
	tenantWaiter := pend("team-a", "w", pendingInfo{})
	otherWaiter := pend("team-b", "w", pendingInfo{})
	manualWaiter := pend("team-b", "m", pendingInfo{pool: "manual"})
	requester := pend("team-b", "r", pendingInfo{requested: []netip.Addr{netip.MustParseAddr("203.0.113.0")}})
	cases := map[string]struct {
		freed string
		want  []types.NamespacedName
	}{
		"an IP of a restricted pool retries only Services it admits": {"192.0.2.0", []types.NamespacedName{tenantWaiter}},
		"an IP of an open pool retries every auto-assign waiter":     {"198.51.100.0", []types.NamespacedName{otherWaiter, tenantWaiter}},
		"an IP of a manual pool retries who names it or requests it": {"203.0.113.0", []types.NamespacedName{manualWaiter, requester}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := s.pendingForLocked([]netip.Addr{netip.MustParseAddr(tc.freed)})
			cmp := func(a, b types.NamespacedName) int {
				if a.String() < b.String() {
					return -1
				}
				if a.String() > b.String() {
					return 1
				}
				return 0
			}
			slices.SortFunc(got, cmp)
			slices.SortFunc(tc.want, cmp)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("requeued %v, want %v", got, tc.want)
			}
		})
	}
}

// A reconcile that reads an older object than our own last write must not act on
// it (issue 7: it released the IP it had just written and allocated again).
func TestViewOlderThanOurWriteIsNotCurrent(t *testing.T) {
	s := newTestState(t, testPool("p", true, "192.0.2.0/30"))
	r := &ServiceReconciler{State: s}
	svc := testService("web")
	svc.ResourceVersion = "10"
	s.written[svcKey(svc)] = writtenStatus{resourceVersion: "11", ingress: []string{"192.0.2.0"}}
	cases := map[string]struct {
		rv      string
		ingress []string
		want    bool
	}{
		"the object our write returned is current":        {"11", []string{"192.0.2.0"}, true},
		"a later object showing what we wrote is current": {"12", []string{"192.0.2.0"}, true},
		"an older object without our write is not":        {"10", nil, false},
		"an object showing other IPs is re-read":          {"13", []string{"192.0.2.1"}, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			v := svc.DeepCopy()
			v.ResourceVersion = tc.rv
			for _, ip := range tc.ingress {
				v.Status.LoadBalancer.Ingress = append(v.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
			}
			if got := r.viewIsCurrent(v); got != tc.want {
				t.Fatalf("viewIsCurrent = %v, want %v", got, tc.want)
			}
		})
	}
}

// A Namespace the cache does not hold yet is read from the API server: reading it
// as "no labels" let a tenant's Service into a shared pool (issue 7).
func TestNamespaceMissingFromCacheIsReadLive(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"tenant": "a"}}}
	cache := fake.NewClientBuilder().Build()
	live := fake.NewClientBuilder().WithObjects(ns).Build()
	cases := map[string]struct {
		live    *fakeReader
		want    string
		wantErr bool
	}{
		"missing from the cache: read live":   {live: &fakeReader{c: live}, want: "a"},
		"missing everywhere: no labels":       {live: &fakeReader{c: fake.NewClientBuilder().Build()}, want: ""},
		"the API server fails: do not decide": {live: &fakeReader{err: context.DeadlineExceeded}, wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			labels, err := namespaceLabels(t.Context(), cache, tc.live, "team-a")
			if (err != nil) != tc.wantErr || labels["tenant"] != tc.want {
				t.Fatalf("labels %v err %v", labels, err)
			}
		})
	}
}

type fakeReader struct {
	c interface {
		Get(ctx context.Context, key types.NamespacedName, obj client.Object, opts ...client.GetOption) error
	}
	err error
}

func (f *fakeReader) Get(ctx context.Context, key types.NamespacedName, obj client.Object, opts ...client.GetOption) error {
	if f.err != nil {
		return f.err
	}
	return f.c.Get(ctx, key, obj, opts...)
}

func (f *fakeReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return f.err
}
