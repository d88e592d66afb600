package l2

import (
	"strings"
	"testing"
)

func TestParseExcludeL2(t *testing.T) {
	cases := map[string]struct {
		data     string
		want     []string
		wantErr  string
		excluded map[string]bool
	}{
		"MetalLB's shipped file": {
			data:     `announcedInterfacesToExclude: ["docker.*", "cbr.*", "dummy.*", "virbr.*", "lxcbr.*", "veth.*", "lo", "^cali.*", "^tunl.*", "flannel.*", "kube-ipvs.*", "cni.*", "^nodelocaldns.*"]`,
			excluded: map[string]bool{"docker0": true, "vethabc": true, "lo": true, "eth0": false, "bond0": false},
		},
		"a customised list replaces the defaults": {
			data:     "announcedInterfacesToExclude:\n  - ^eth1$\n",
			want:     []string{"^eth1$"},
			excluded: map[string]bool{"eth1": true, "eth0": false, "docker0": false},
		},
		"an empty file excludes nothing": {data: "", want: []string{}},
		"a misspelt key is an error":     {data: "announcedInterfaceToExclude: [eth1]", wantErr: "announcedInterfaceToExclude"},
		"a bad regexp names itself":      {data: `announcedInterfacesToExclude: ["(eth"]`, wantErr: `"(eth"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ParseExcludeL2([]byte(tc.data))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil && strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("patterns %q, want %q", got, tc.want)
			}
			ex, err := NewExcluder(got)
			if err != nil {
				t.Fatal(err)
			}
			for iface, want := range tc.excluded {
				if ex.Excluded(iface) != want {
					t.Errorf("Excluded(%q) = %v, want %v", iface, !want, want)
				}
			}
		})
	}
}

func FuzzParseExcludeL2(f *testing.F) {
	f.Add([]byte(`announcedInterfacesToExclude: ["docker.*", "lo"]`))
	f.Add([]byte("announcedInterfacesToExclude:\n- a\n- '['\n"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		patterns, err := ParseExcludeL2(data)
		if err != nil {
			return
		}
		if _, err := NewExcluder(patterns); err != nil {
			t.Fatalf("accepted patterns that do not compile: %v", err)
		}
	})
}
