package lab

import "testing"

func TestLateClaims(t *testing.T) {
	const a, b = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
	cases := map[string]struct {
		claims []Claim
		late   int
		took   int64
	}{
		"the IP never moved":                               {[]Claim{{1, a}, {2, a}}, 0, 0},
		"a clean takeover":                                 {[]Claim{{1, a}, {2, a}, {3, b}, {4, b}}, 0, 3},
		"the old owner answers after the takeover":         {[]Claim{{1, a}, {3, b}, {4, a}, {5, b}}, 1, 3},
		"a return after the new owner stopped is not late": {[]Claim{{1, a}, {3, b}, {4, b}, {6, a}, {7, a}}, 0, 3},
		"MACs compare case-insensitively":                  {[]Claim{{1, a}, {3, b}, {4, "02:00:00:00:00:0A"}, {5, b}}, 1, 3},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			late, took := LateClaims(tc.claims, a)
			if late != tc.late || took != tc.took {
				t.Fatalf("LateClaims = %d, %d; want %d, %d", late, took, tc.late, tc.took)
			}
		})
	}
}
