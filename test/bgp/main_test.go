// Package bgp_test runs ironlb's BGP engine in node namespaces against real
// FRR, BIRD 2 and gobgpd routers (test/bgplab). Needs root; skips otherwise,
// fails when IRONLB_REQUIRE_NETNS=1.
package bgp_test

import (
	"os"
	"testing"

	"github.com/ironlb/ironlb/test/bgplab"
)

func TestMain(m *testing.M) {
	bgplab.HelperMain()
	os.Exit(m.Run())
}
