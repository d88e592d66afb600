package config

import (
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Selection is the part every advertisement (L2Advertisement, BGPAdvertisement)
// shares: which pools, nodes and Services it applies to. A nil selector slice
// means "not set".
type Selection struct {
	Pools            []string // spec.ipAddressPools
	PoolSelectors    []labels.Selector
	NodeSelectors    []labels.Selector
	ServiceSelectors []labels.Selector
}

// SelectorFields are an advertisement's selection fields as written in its spec.
type SelectorFields struct {
	IPAddressPools         []string
	IPAddressPoolSelectors []metav1.LabelSelector
	NodeSelectors          []metav1.LabelSelector
	ServiceSelectors       []metav1.LabelSelector
}

// ParseSelection parses the selection fields; an error names the bad field
// (spec.nodeSelectors[1]: ...).
func ParseSelection(f SelectorFields) (Selection, error) {
	out := Selection{Pools: slices.Clone(f.IPAddressPools)}
	var err error
	if out.PoolSelectors, err = selectors(f.IPAddressPoolSelectors, "ipAddressPoolSelectors"); err != nil {
		return Selection{}, err
	}
	if out.NodeSelectors, err = selectors(f.NodeSelectors, "nodeSelectors"); err != nil {
		return Selection{}, err
	}
	if out.ServiceSelectors, err = selectors(f.ServiceSelectors, "serviceSelectors"); err != nil {
		return Selection{}, err
	}
	return out, nil
}

func selectors(in []metav1.LabelSelector, field string) ([]labels.Selector, error) {
	var out []labels.Selector
	for i := range in {
		s, err := metav1.LabelSelectorAsSelector(&in[i])
		if err != nil {
			return nil, fmt.Errorf("spec.%s[%d]: %w", field, i, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// SelectsPool: ipAddressPools (by name) and ipAddressPoolSelectors are ORed;
// both empty selects every pool; a selector that matches nothing selects no pool.
func (s *Selection) SelectsPool(p *Pool) bool {
	if len(s.Pools) == 0 && len(s.PoolSelectors) == 0 {
		return true
	}
	if slices.Contains(s.Pools, p.Name) {
		return true
	}
	for _, sel := range s.PoolSelectors {
		if sel.Matches(labels.Set(p.Labels)) {
			return true
		}
	}
	return false
}

// SelectsNode: no nodeSelectors selects every node; otherwise any must match.
func (s *Selection) SelectsNode(nodeLabels map[string]string) bool {
	return AnySelects(s.NodeSelectors, nodeLabels)
}

// SelectsService: no serviceSelectors selects every Service; otherwise any must match.
func (s *Selection) SelectsService(svcLabels map[string]string) bool {
	return AnySelects(s.ServiceSelectors, svcLabels)
}

// AnySelects: no selectors selects everything; otherwise any must match.
func AnySelects(sels []labels.Selector, l map[string]string) bool {
	if len(sels) == 0 {
		return true
	}
	for _, s := range sels {
		if s.Matches(labels.Set(l)) {
			return true
		}
	}
	return false
}
