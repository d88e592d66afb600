package integration

import (
	"bytes"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ironlb/ironlb/internal/app/whyapp"
)

func (f *fixture) pools() string {
	f.t.Helper()
	var out bytes.Buffer
	if err := whyapp.Pools(f.ctx, f.c, whyapp.PoolsOptions{ConfigNamespace: f.cfgNS, LBClass: f.lbClass}, &out); err != nil {
		f.t.Fatalf("pools: %v", err)
	}
	f.t.Logf("kubectl ironlb pools:\n%s", out.String())
	return out.String()
}

// `kubectl ironlb pools` lists every pool with its ranges, used and free addresses
// per family and the Services holding them, and says why a rejected pool is rejected.
func TestPoolsListsUsageHoldersAndRejectedPools(t *testing.T) {
	f := newFixture(t)
	assertContains(t, f.pools(), "No IPAddressPool in namespace "+f.cfgNS)

	dual := f.pool("dual", []string{"192.0.2.0/30", "2001:db8:1::/126"})
	f.pool("quiet", []string{"198.51.100.0/31"}, noAutoAssign)
	f.start()
	f.service("web")
	f.waitIPs("web", "192.0.2.0")
	f.service("api")
	f.waitIPs("api", "192.0.2.1")
	// Creation times have one-second resolution, and a process that starts
	// (here: the pools command's fresh state) breaks a same-second tie by
	// name, which would pick "clash": make "dual" the older one.
	time.Sleep(time.Until(dual.CreationTimestamp.Add(1100 * time.Millisecond)))
	f.pool("clash", []string{"192.0.2.2-192.0.2.5"})
	f.waitEvent(f.cfgNS, "clash", corev1.EventTypeWarning, "InvalidConfiguration", `overlap IPAddressPool "dual"`)

	out := f.pools()
	assertContains(t, out,
		"IPAddressPool "+f.cfgNS+"/dual\n",
		"Ranges:         192.0.2.0/30, 2001:db8:1::/126",
		"Assignment:     automatic",
		"IPv4:           2 used / 2 free",
		"IPv6:           0 used / 4 free",
		"Service:        "+f.ns+"/api (192.0.2.1)",
		"Service:        "+f.ns+"/web (192.0.2.0)",
		"IPAddressPool "+f.cfgNS+"/quiet\n",
		"only to Services that name it (autoAssign: false)",
		"Services:       none",
		"IPAddressPool "+f.cfgNS+"/clash: REJECTED",
		"Addresses:      192.0.2.2-192.0.2.5",
		`Why:            IPAddressPool "clash"`,
		`overlap`,
	)
}

// `why` accepts its flags before the Service name (the command line of issue 9).
func TestWhyFlagsBeforeName(t *testing.T) {
	f := newFixture(t)
	f.pool("p", []string{"192.0.2.0/31"})
	f.start()
	f.service("web")
	f.waitIPs("web", "192.0.2.0")
	cmd, err := whyapp.ParseArgs([]string{"why", "-n", f.ns, "--config-namespace", f.cfgNS, "--lb-class", f.lbClass, "web"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := whyapp.Run(f.ctx, f.c, whyapp.Options{Namespace: cmd.Namespace, Name: cmd.Name, ConfigNamespace: cmd.ConfigNamespace, LBClass: cmd.LBClass}, &out); err != nil {
		t.Fatal(err)
	}
	assertContains(t, out.String(), "Service "+f.ns+"/web", "IPs:            192.0.2.0 (pool p)")
}
