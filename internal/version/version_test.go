package version

import "testing"

func TestString(t *testing.T) {
	cases := map[string]struct {
		version, revision, want string
	}{
		"unstamped build says dev and unknown": {"dev", "unknown", "controller dev (revision unknown)"},
		"stamped build prints both":            {"v0.3.0", "abc123", "controller v0.3.0 (revision abc123)"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			oldV, oldR := Version, Revision
			defer func() { Version, Revision = oldV, oldR }()
			Version, Revision = tc.version, tc.revision
			if got := String("controller"); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}
