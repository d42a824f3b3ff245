package argocdlua

import (
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

// Customization is what argocd-cm holds for one group and kind: the keys
// resource.customizations.health.<group>_<Kind> and resource.customizations.actions.<group>_<Kind>.
type Customization struct {
	Health  string
	Actions ResourceActions
}

// ResourceActions is the value of a resource.customizations.actions key, as Argo CD reads it.
type ResourceActions struct {
	DiscoveryLua string             `json:"discovery.lua"`
	Definitions  []ActionDefinition `json:"definitions"`
}

type ActionDefinition struct {
	Name      string `json:"name"`
	ActionLua string `json:"action.lua"`
}

// Action returns the script of the action called name, or an error as Argo CD would.
func (a ResourceActions) Action(name string) (string, error) {
	for _, d := range a.Definitions {
		if d.Name == name {
			return d.ActionLua, nil
		}
	}
	return "", fmt.Errorf("no action %q defined", name)
}

// LoadConfigMap reads the customizations of group/kind from an argocd-cm manifest.
func LoadConfigMap(path, group, kind string) (Customization, error) {
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := ReadYAML(path, &cm); err != nil {
		return Customization{}, err
	}
	suffix := group + "_" + kind
	custom := Customization{Health: cm.Data["resource.customizations.health."+suffix]}
	if actions, ok := cm.Data["resource.customizations.actions."+suffix]; ok {
		if err := yaml.Unmarshal([]byte(actions), &custom.Actions); err != nil {
			return Customization{}, fmt.Errorf("%s: actions of %s: %w", path, suffix, err)
		}
	}
	return custom, nil
}

// ReadYAML decodes a YAML file through JSON, as Argo CD decodes objects: numbers
// become float64, and objects map[string]any.
func ReadYAML(path string, into any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
