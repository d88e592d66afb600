package ipnet

import (
	"errors"
	"math"
	"net/netip"
	"strings"
	"testing"

	"go4.org/netipx"
)

func TestParseAddress(t *testing.T) {
	cases := map[string]struct {
		in      string
		want    string // range "a-b"
		wantErr string
		is      error
	}{
		"ipv4 cidr":             {in: "10.0.0.0/24", want: "10.0.0.0-10.0.0.255"},
		"host bits are masked":  {in: "10.0.0.7/24", want: "10.0.0.0-10.0.0.255"},
		"single ipv4":           {in: "10.0.0.7/32", want: "10.0.0.7-10.0.0.7"},
		"ipv6 cidr":             {in: "2001:db8::/64", want: "2001:db8::-2001:db8::ffff:ffff:ffff:ffff"},
		"single ipv6":           {in: "2001:db8::1/128", want: "2001:db8::1-2001:db8::1"},
		"whole ipv4":            {in: "0.0.0.0/0", want: "0.0.0.0-255.255.255.255"},
		"ipv4 range":            {in: "10.0.0.1-10.0.0.5", want: "10.0.0.1-10.0.0.5"},
		"range with spaces":     {in: " 10.0.0.1 -  10.0.0.5 ", want: "10.0.0.1-10.0.0.5"},
		"one-address range":     {in: "10.0.0.1-10.0.0.1", want: "10.0.0.1-10.0.0.1"},
		"ipv6 range":            {in: "2001:db8::1-2001:db8::ff", want: "2001:db8::1-2001:db8::ff"},
		"single ip without len": {in: "10.0.0.1", wantErr: `invalid CIDR "10.0.0.1": netip.ParsePrefix("10.0.0.1"): no '/'`},
		"bad prefix length":     {in: "10.0.0.0/33", wantErr: `invalid CIDR "10.0.0.0/33": netip.ParsePrefix("10.0.0.0/33"): prefix length out of range`},
		"cidr with spaces":      {in: " 10.0.0.0/24", wantErr: `invalid CIDR " 10.0.0.0/24"`},
		"garbage":               {in: "hello", wantErr: `invalid CIDR "hello"`},
		"empty":                 {in: "", wantErr: `invalid CIDR ""`},
		"start after end":       {in: "10.0.0.5-10.0.0.1", wantErr: `invalid range "10.0.0.5-10.0.0.1": start is after end`, is: ErrStartAfterEnd},
		"mixed families":        {in: "10.0.0.1-2001:db8::1", wantErr: `invalid range "10.0.0.1-2001:db8::1": start and end are of different families`, is: ErrMixedFamilies},
		"bad start":             {in: "10.0.0-10.0.0.5", wantErr: `invalid range "10.0.0-10.0.0.5": invalid start IP "10.0.0"`},
		"bad end":               {in: "10.0.0.1-", wantErr: `invalid range "10.0.0.1-": invalid end IP ""`},
		"three parts":           {in: "10.0.0.1-10.0.0.2-10.0.0.3", wantErr: `invalid range "10.0.0.1-10.0.0.2-10.0.0.3": invalid end IP "10.0.0.2-10.0.0.3"`},
		"cidr inside range":     {in: "10.0.0.0/24-10.0.1.0/24", wantErr: `invalid start IP "10.0.0.0/24"`},
		"mapped cidr":           {in: "::ffff:10.0.0.0/120", wantErr: `invalid CIDR "::ffff:10.0.0.0/120": IPv4-mapped`, is: ErrMapped},
		"mapped range":          {in: "::ffff:10.0.0.1-::ffff:10.0.0.2", is: ErrMapped, wantErr: "IPv4-mapped"},
		"zone":                  {in: "fe80::1%eth0-fe80::2", is: ErrZone, wantErr: "zones"},
		"leading zeros":         {in: "010.0.0.1-10.0.0.2", wantErr: `invalid start IP "010.0.0.1"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r, err := ParseAddress(tc.in)
			if tc.wantErr != "" || tc.is != nil {
				if err == nil {
					t.Fatalf("got %v, want error", r)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %q does not contain %q", err, tc.wantErr)
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Fatalf("error %q is not %v", err, tc.is)
				}
				var pe *ParseError
				if !errors.As(err, &pe) || pe.Index != -1 || pe.Entry != tc.in {
					t.Fatalf("error %#v is not a ParseError for the entry", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.String() != tc.want {
				t.Fatalf("got %s, want %s", r, tc.want)
			}
		})
	}
}

func TestParseAddresses(t *testing.T) {
	rs, err := ParseAddresses([]string{"10.0.1.0/24", "10.0.0.1-10.0.0.3", "2001:db8::/126"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.1.0/24", "10.0.0.1-10.0.0.3", "2001:db8::/126"}
	for i, r := range rs {
		if String(r) != want[i] {
			t.Errorf("[%d] = %s, want %s", i, String(r), want[i])
		}
	}
	_, err = ParseAddresses([]string{"10.0.0.0/24", "10.0.1.0/24", "10.0.0.0/33"})
	if err == nil || !strings.HasPrefix(err.Error(), `invalid CIDR "10.0.0.0/33" in spec.addresses[2]: `) {
		t.Fatalf("got %v", err)
	}
	_, err = ParseAddresses([]string{"10.0.0.0/24", "10.0.0.9-10.0.0.1"})
	if err == nil || err.Error() != `invalid range "10.0.0.9-10.0.0.1" in spec.addresses[1]: start is after end` {
		t.Fatalf("got %v", err)
	}
	if _, err := ParseAddresses(nil); !errors.Is(err, ErrNoAddresses) {
		t.Fatalf("got %v", err)
	}
}

func mustRanges(ss ...string) []netipx.IPRange {
	rs, err := ParseAddresses(ss)
	if err != nil {
		panic(err)
	}
	return rs
}

func TestFindOverlap(t *testing.T) {
	cases := map[string]struct {
		pools []PoolRanges
		want  string
	}{
		"disjoint": {pools: []PoolRanges{
			{"a", mustRanges("10.0.0.0/24", "2001:db8::/64")},
			{"b", mustRanges("10.0.1.0/24", "10.0.2.0-10.0.2.9", "2001:db8:1::/64")},
		}},
		"adjacent ranges do not overlap": {pools: []PoolRanges{
			{"a", mustRanges("10.0.0.0-10.0.0.9")},
			{"b", mustRanges("10.0.0.10-10.0.0.20")},
		}},
		"ipv4 and ipv6 never overlap": {pools: []PoolRanges{
			{"a", mustRanges("0.0.0.0/0")},
			{"b", mustRanges("::/0")},
		}},
		"cidr inside cidr": {pools: []PoolRanges{
			{"a", mustRanges("10.0.0.0/16")},
			{"b", mustRanges("10.0.5.0/24")},
		}, want: `range "10.0.5.0/24" in pool "b" overlaps with already defined range "10.0.0.0/16" in pool "a"`},
		"range crossing a cidr": {pools: []PoolRanges{
			{"a", mustRanges("10.0.0.0/24")},
			{"b", mustRanges("10.0.0.250-10.0.1.5")},
		}, want: `range "10.0.0.250-10.0.1.5" in pool "b" overlaps with already defined range "10.0.0.0/24" in pool "a"`},
		"overlap hidden behind a long range": {pools: []PoolRanges{
			{"a", mustRanges("10.0.0.0/8")},
			{"b", mustRanges("10.1.0.0/16")},
			{"c", mustRanges("10.2.0.0/16")},
		}, want: `range "10.1.0.0/16" in pool "b" overlaps with already defined range "10.0.0.0/8" in pool "a"`},
		"within one pool": {pools: []PoolRanges{
			{"a", mustRanges("2001:db8::/64", "2001:db8::5/128")},
		}, want: `range "2001:db8::5/128" (spec.addresses[1]) overlaps with "2001:db8::/64" (spec.addresses[0]) in pool "a"`},
		"same range twice": {pools: []PoolRanges{
			{"a", mustRanges("10.0.0.1/32")},
			{"b", mustRanges("10.0.0.1-10.0.0.1")},
		}, want: `range "10.0.0.1/32" in pool "b" overlaps with already defined range "10.0.0.1/32" in pool "a"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			o := FindOverlap(tc.pools)
			got := ""
			if o != nil {
				got = o.Error()
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCount(t *testing.T) {
	cases := map[string]struct {
		ranges     []string
		avoidBuggy bool
		v4, v6     int64
	}{
		"/24":             {ranges: []string{"10.0.0.0/24"}, v4: 256},
		"/24 + /25":       {ranges: []string{"10.0.0.0/24", "10.0.1.0/25"}, v4: 384},
		"buggy /24":       {ranges: []string{"10.0.0.0/24"}, avoidBuggy: true, v4: 254},
		"buggy /16":       {ranges: []string{"10.0.0.0/16"}, avoidBuggy: true, v4: 254 * 256},
		"buggy small":     {ranges: []string{"10.0.0.0/30", "10.0.0.252/30", "10.0.1.4/30"}, avoidBuggy: true, v4: 3 + 3 + 4},
		"buggy only .255": {ranges: []string{"10.0.0.255/32"}, avoidBuggy: true},
		"buggy 0.0.0.0":   {ranges: []string{"0.0.0.0/32"}, avoidBuggy: true},
		"buggy all":       {ranges: []string{"0.0.0.0/0"}, avoidBuggy: true, v4: 254 << 24},
		"buggy range":     {ranges: []string{"10.0.0.250-10.0.2.3"}, avoidBuggy: true, v4: 5 + 254 + 3},
		"ipv6 unaffected": {ranges: []string{"2001:db8::/120"}, avoidBuggy: true, v6: 256},
		"/64":             {ranges: []string{"2001:db8::/64"}, v6: math.MaxInt64},
		"two /64 no wrap": {ranges: []string{"2001:db8::/64", "2001:db8:1::/64"}, v6: math.MaxInt64},
		"::/0":            {ranges: []string{"::/0"}, v6: math.MaxInt64},
		"/65":             {ranges: []string{"2001:db8::/65"}, v6: math.MaxInt64},
		"/66":             {ranges: []string{"2001:db8::/66"}, v6: 1 << 62},
		"mixed":           {ranges: []string{"10.0.0.0/24", "2001:db8::/120", "10.0.1.0/31"}, v4: 258, v6: 256},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			v4, v6 := Count(mustRanges(tc.ranges...), tc.avoidBuggy)
			if v4 != tc.v4 || v6 != tc.v6 {
				t.Fatalf("got %d, %d; want %d, %d", v4, v6, tc.v4, tc.v6)
			}
		})
	}
	if SaturatingAdd(math.MaxInt64-1, 5) != math.MaxInt64 || SaturatingAdd(2, 3) != 5 {
		t.Fatal("SaturatingAdd")
	}
	if Size(netipx.IPRange{}) != 0 {
		t.Fatal("Size of zero range")
	}
}

func TestIsBuggy(t *testing.T) {
	for s, want := range map[string]bool{
		"10.0.0.0": true, "10.0.0.255": true, "10.0.0.1": false, "10.0.0.254": false,
		"::ffff:10.0.0.0": true, "2001:db8::": false, "2001:db8::ff": false,
	} {
		if got := IsBuggy(netip.MustParseAddr(s)); got != want {
			t.Errorf("IsBuggy(%s) = %v", s, got)
		}
	}
}

// FuzzParseAddresses checks that parsing never panics, that successes are
// valid single-family ranges containing the entry's ends, that failures
// name the entry, and that counting never goes negative.
func FuzzParseAddresses(f *testing.F) {
	for _, s := range []string{
		"10.0.0.0/24", "10.0.0.1-10.0.0.5", " 10.0.0.1 - 10.0.0.5 ", "2001:db8::/64", "::/0",
		"10.0.0.5-10.0.0.1", "10.0.0.0/33", "a-b", "-", "1.2.3.4-::1", "fe80::1%1/64", "::ffff:1.2.3.4/128",
	} {
		f.Add(s, "192.168.0.0/16")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		rs, err := ParseAddresses([]string{a, b})
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a ParseError", err)
			}
			if (pe.Index == 0 && pe.Entry != a) || (pe.Index == 1 && pe.Entry != b) || pe.Index < 0 || pe.Index > 1 {
				t.Fatalf("error %v names the wrong entry", err)
			}
			if !strings.Contains(err.Error(), "spec.addresses[") {
				t.Fatalf("error %q lacks the index", err)
			}
			return
		}
		if len(rs) != 2 {
			t.Fatalf("got %d ranges", len(rs))
		}
		for i, r := range rs {
			entry := []string{a, b}[i]
			if !r.IsValid() || r.From().Is4() != r.To().Is4() || r.To().Less(r.From()) {
				t.Fatalf("%q gave invalid range %v", entry, r)
			}
			if r.From().Is4In6() || r.From().Zone() != "" {
				t.Fatalf("%q gave mapped or zoned range %v", entry, r)
			}
			if !strings.Contains(entry, "-") {
				if _, ok := r.Prefix(); !ok {
					t.Fatalf("CIDR %q gave non-prefix range %v", entry, r)
				}
			}
			// Round trip.
			r2, err := ParseAddress(String(r))
			if err != nil || r2 != r {
				t.Fatalf("round trip of %v (%q): %v, %v", r, String(r), r2, err)
			}
		}
		for _, avoid := range []bool{false, true} {
			v4, v6 := Count(rs, avoid)
			if v4 < 0 || v6 < 0 {
				t.Fatalf("negative count %d %d", v4, v6)
			}
			if avoid && v4 > 0 {
				plain, _ := Count(rs, false)
				if v4 > plain {
					t.Fatalf("avoiding buggy IPs raised the count: %d > %d", v4, plain)
				}
			}
		}
		o := FindOverlap([]PoolRanges{{"a", rs[:1]}, {"b", rs[1:]}})
		if (o != nil) != rs[0].Overlaps(rs[1]) {
			t.Fatalf("FindOverlap %v disagrees with Overlaps for %v, %v", o, rs[0], rs[1])
		}
	})
}
