// Package config owns what the metallb.io objects mean. The controller and the
// speaker both read IPAddressPools and advertisements through it, so they can
// never disagree about which pool an IP belongs to, which pool wins an overlap,
// which spec of an edited pool is in use, or which advertisement applies.
//
// Pure logic: it parses objects it is handed and keeps no state; the caller
// keeps the LastGood map between calls. A bad object is reported as a Problem
// naming the object and the field, and left out; the rest keeps working.
package config

import (
	"fmt"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
)

// Kinds, as they appear in problems, events and ConfigurationState.
const (
	KindIPAddressPool   = "IPAddressPool"
	KindL2Advertisement = "L2Advertisement"
)

// Problem is a reason an object (or its latest edit) is not in use.
type Problem struct {
	Kind    string // KindIPAddressPool, KindL2Advertisement, ...
	Object  string // the object's name
	Message string // names the field and says what to do
	// KeptLastGood is true when the object still serves with its previous spec.
	KeptLastGood bool
}

func (p Problem) String() string {
	if p.KeptLastGood {
		return fmt.Sprintf("%s %q: %s; its previous valid spec stays in use until this is fixed", p.Kind, p.Object, p.Message)
	}
	return fmt.Sprintf("%s %q: %s; the %s is not used until this is fixed", p.Kind, p.Object, p.Message, p.Kind)
}

// Objects are the metallb.io objects of the configuration namespace, as listed
// from the API (any order; objects being deleted are ignored).
type Objects struct {
	Pools []metallbv1beta1.IPAddressPool
	L2Ads []metallbv1beta1.L2Advertisement
}

// Config is what the objects mean.
type Config struct {
	// Pools in precedence order (oldest first, then by name); their ranges
	// never overlap.
	Pools Pools
	// L2Ads sorted by name; bad ones are left out.
	L2Ads []L2Ad
	// Problems of every kind, pools first.
	Problems []Problem
}

// Build reads the objects. last is the previous call's LastGood (nil at start);
// the returned LastGood is for the next call.
func Build(in Objects, last LastGood) (*Config, LastGood) {
	pools, next := BuildPools(in.Pools, last)
	ads, adProblems := BuildL2Ads(in.L2Ads)
	return &Config{
		Pools:    pools.Pools,
		L2Ads:    ads,
		Problems: append(pools.Problems, adProblems...),
	}, next
}
