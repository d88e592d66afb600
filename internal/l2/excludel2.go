package l2

import (
	"fmt"

	"sigs.k8s.io/yaml"
)

// ExcludeL2Path is where MetalLB's speaker reads its interface exclusions, mounted
// from the ConfigMap metallb-excludel2 (key excludel2.yaml). ironlb's speaker reads
// the same file, so a cluster's customised list keeps working after a migration.
const ExcludeL2Path = "/etc/metallb/excludel2.yaml"

// excludeL2File is the file's format: {announcedInterfacesToExclude: [regexp, ...]}.
type excludeL2File struct {
	AnnouncedInterfacesToExclude []string `json:"announcedInterfacesToExclude"`
}

// ParseExcludeL2 reads MetalLB's excludel2.yaml and returns its patterns, checked to
// compile. Unknown keys are an error: a misspelt key would otherwise silently
// announce on interfaces the operator meant to exclude.
func ParseExcludeL2(data []byte) ([]string, error) {
	var f excludeL2File
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("excludel2.yaml: %w (expected announcedInterfacesToExclude: [\"regexp\", ...])", err)
	}
	patterns := f.AnnouncedInterfacesToExclude
	if patterns == nil {
		patterns = []string{}
	}
	if _, err := NewExcluder(patterns); err != nil {
		return nil, fmt.Errorf("excludel2.yaml: announcedInterfacesToExclude: %w", err)
	}
	return patterns, nil
}
