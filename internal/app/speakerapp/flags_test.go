package speakerapp

import (
	"flag"
	"github.com/go-logr/logr"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCLIContract: the flags other tools (the namespace lab, the DaemonSet) rely on.
func TestCLIContract(t *testing.T) {
	t.Setenv("METALLB_NODE_NAME", "")
	t.Setenv("NODE_NAME", "from-env")
	var o Options
	fs := flag.NewFlagSet("speaker", flag.ContinueOnError)
	o.BindFlags(fs)
	if o.NodeName != "from-env" {
		t.Fatalf("node name from NODE_NAME: %q", o.NodeName)
	}
	err := fs.Parse([]string{
		"--node-name", "n1", "--namespace", "ns", "--lb-class", "c", "--ignore-exclude-lb",
		"--liveness-bind-address", "192.0.2.1", "--liveness-port", "7000", "--liveness-secret", "s",
		"--metrics-bind-address", "0", "--health-probe-bind-address", ":9", "--exclude-interfaces", "^docker.*, ^veth.*",
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.NodeName != "n1" || o.Namespace != "ns" || o.LBClass != "c" || !o.IgnoreExcludeLB || o.LivenessBindAddress != "192.0.2.1" ||
		o.LivenessPort != 7000 || o.LivenessSecret != "s" || o.MetricsAddr != "0" || o.ProbeAddr != ":9" ||
		!slices.Equal(o.ExcludeInterfaces, []string{"^docker.*", "^veth.*"}) {
		t.Fatalf("parsed %+v", o)
	}
	if err := fs.Parse([]string{"--exclude-interfaces", "("}); err == nil {
		t.Fatal("bad regexp accepted")
	}
	var d Options
	fs = flag.NewFlagSet("speaker", flag.ContinueOnError)
	d.BindFlags(fs)
	_ = fs.Parse(nil)
	if d.Namespace != "metallb-system" || d.LivenessPort != 7947 || d.LivenessSecret != "memberlist" || d.MetricsAddr != ":7472" || d.ProbeAddr != ":7473" || d.ExcludeInterfaces != nil {
		t.Fatalf("defaults %+v", d)
	}
	t.Setenv("METALLB_NODE_NAME", "metallb-env")
	var e Options
	e.BindFlags(flag.NewFlagSet("x", flag.ContinueOnError))
	if e.NodeName != "metallb-env" {
		t.Fatalf("METALLB_NODE_NAME wins: %q", e.NodeName)
	}
}

// MetalLB's excludel2.yaml is honoured, so a migrated cluster keeps its customised
// interface exclusions; the flag wins over it; a bad or missing file means defaults.
func TestExclusionsFromMetalLBFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte(`announcedInterfacesToExclude: ["^eth1$"]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(`announcedInterfacesToExclude: ["("]`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		opts Options
		want []string // nil = the built-in defaults
	}{
		"the file is used":                 {opts: Options{ExcludeInterfacesFile: good}, want: []string{"^eth1$"}},
		"the flag wins over the file":      {opts: Options{ExcludeInterfacesFile: good, ExcludeInterfaces: []string{"^x$"}}, want: []string{"^x$"}},
		"no file means the defaults":       {opts: Options{ExcludeInterfacesFile: filepath.Join(dir, "absent.yaml")}},
		"a bad file is ignored, defaults":  {opts: Options{ExcludeInterfacesFile: bad}},
		"no file configured, the defaults": {opts: Options{}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := tc.opts.exclusions(logr.Discard())
			if (got == nil) != (tc.want == nil) || strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("exclusions = %q, want %q", got, tc.want)
			}
		})
	}
}
