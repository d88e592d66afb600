package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
)

// L2Ad is a usable L2Advertisement.
type L2Ad struct {
	Name string
	Selection
	// Interfaces (spec.interfaces) sorted and unique; nil = every eligible one.
	Interfaces []string
}

// ParseL2Ad converts an L2Advertisement; an error names the bad field.
func ParseL2Ad(ad *metallbv1beta1.L2Advertisement) (L2Ad, error) {
	sel, err := ParseSelection(SelectorFields{
		IPAddressPools:         ad.Spec.IPAddressPools,
		IPAddressPoolSelectors: ad.Spec.IPAddressPoolSelectors,
		NodeSelectors:          ad.Spec.NodeSelectors,
		ServiceSelectors:       ad.Spec.ServiceSelectors,
	})
	if err != nil {
		return L2Ad{}, err
	}
	for i, n := range ad.Spec.Interfaces {
		if err := ValidInterfaceName(n); err != nil {
			return L2Ad{}, fmt.Errorf("spec.interfaces[%d]: %w", i, err)
		}
	}
	return L2Ad{Name: ad.Name, Selection: sel, Interfaces: cloneSorted(ad.Spec.Interfaces)}, nil
}

// BuildL2Ads parses every L2Advertisement not being deleted; the result is
// sorted by name, bad ones are reported and left out.
func BuildL2Ads(in []metallbv1beta1.L2Advertisement) ([]L2Ad, []Problem) {
	var out []L2Ad
	var problems []Problem
	for i := range in {
		if in[i].DeletionTimestamp != nil {
			continue
		}
		ad, err := ParseL2Ad(&in[i])
		if err != nil {
			problems = append(problems, Problem{Kind: KindL2Advertisement, Object: in[i].Name, Message: err.Error()})
			continue
		}
		out = append(out, ad)
	}
	slices.SortFunc(out, func(a, b L2Ad) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(problems, func(a, b Problem) int { return strings.Compare(a.Object, b.Object) })
	return out, problems
}

// maxIfaceName is IFNAMSIZ-1.
const maxIfaceName = 15

// ValidInterfaceName checks a Linux interface name.
func ValidInterfaceName(n string) error {
	switch {
	case n == "":
		return errors.New("empty interface name")
	case len(n) > maxIfaceName:
		return fmt.Errorf("interface name %q longer than %d bytes", n, maxIfaceName)
	case n == "." || n == "..":
		return fmt.Errorf("invalid interface name %q", n)
	}
	for _, r := range n {
		if r <= ' ' || r == '/' || r == ',' || r == ':' || r >= 0x7f {
			return fmt.Errorf("invalid character %q in interface name %q", r, n)
		}
	}
	return nil
}

func cloneSorted(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
