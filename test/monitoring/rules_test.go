// Package monitoring checks ironlb's alert rules and Grafana dashboard
// (charts/ironlb/files) against the metrics the code really exports, and the
// rules' behaviour with promtool on synthetic series.
package monitoring

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"

	"github.com/ironlb/ironlb/internal/bgp"
	"github.com/ironlb/ironlb/internal/controller/allocation"
	"github.com/ironlb/ironlb/internal/speaker"
)

const (
	rulesFile     = "../../charts/ironlb/files/prometheus-rules.yaml"
	dashboardFile = "../../charts/ironlb/files/grafana-dashboard.json"
)

// notYetExported are metrics a rule watches that no ironlb binary exports yet,
// each with why the rule is kept. Nothing else may be missing.
var notYetExported = map[string]string{}

// describer records the descriptors of every collector registered on it.
type describer struct{ names map[string]bool }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d *describer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		if m := fqName.FindStringSubmatch(desc.String()); m != nil {
			d.names[m[1]] = true
		}
	}
	return nil
}
func (d *describer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}
func (d *describer) Unregister(prometheus.Collector) bool { return true }

// exported is every metric name the controller and the speaker register,
// histograms expanded into their _bucket, _sum and _count series.
func exported(t *testing.T) map[string]bool {
	d := &describer{names: map[string]bool{}}
	allocation.NewMetrics(d, allocation.NewState("metallb-system", ""))
	speaker.NewMetrics(d, nil)
	d.MustRegister((&bgp.Engine{}).Collector())
	names := map[string]bool{}
	for n := range d.names {
		names[n] = true
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			names[n+s] = true
		}
	}
	if len(names) == 0 {
		t.Fatal("found no exported metric: the describer is broken")
	}
	return names
}

var metricName = regexp.MustCompile(`\b(?:metallb|ironlb)_[a-zA-Z0-9_]+`)

func queried(exprs []string) []string {
	set := map[string]bool{}
	for _, e := range exprs {
		for _, m := range metricName.FindAllString(e, -1) {
			set[m] = true
		}
	}
	var out []string
	for m := range set {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

func ruleExprs(t *testing.T) []string {
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert string `json:"alert"`
				Expr  string `json:"expr"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	var exprs []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	return exprs
}

// dashboardExprs walks the dashboard JSON for every "expr" and templating "query".
func dashboardExprs(t *testing.T) []string {
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s is not JSON: %v", dashboardFile, err)
	}
	var exprs []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if s, ok := c.(string); ok && (k == "expr" || k == "query") {
					exprs = append(exprs, s)
				}
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(v)
	return exprs
}

func TestQueriedMetricsAreExported(t *testing.T) {
	have := exported(t)
	cases := map[string]struct {
		exprs      []string
		allowExtra bool
	}{
		"every metric an alert rule watches is exported": {ruleExprs(t), true},
		"every metric the dashboard queries is exported": {dashboardExprs(t), false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			names := queried(tc.exprs)
			if len(names) == 0 {
				t.Fatal("no metric queried at all")
			}
			for _, n := range names {
				if have[n] {
					continue
				}
				if why, ok := notYetExported[n]; ok && tc.allowExtra {
					t.Logf("%s: not exported yet: %s", n, why)
					continue
				}
				t.Errorf("%s is queried but no ironlb binary exports it", n)
			}
		})
	}
}

// TestAlertRules runs promtool's rule unit tests (rules_test.yaml).
func TestAlertRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("IRONLB_REQUIRE_APISERVER") == "1" && os.Geteuid() == 0 {
			t.Fatal("promtool not found: hack/install-deps.sh installs Debian's prometheus package (run make test as root)")
		}
		t.Skip("promtool not found: install Debian's prometheus package (hack/install-deps.sh as root)")
	}
	out, err := exec.Command(promtool, "check", "rules", rulesFile).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	out, err = exec.Command(promtool, "test", "rules", "rules_test.yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool test rules did not report SUCCESS:\n%s", out)
	}
}
