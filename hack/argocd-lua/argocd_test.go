package argocdlua

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The checks live in Argo CD's layout for resource customizations,
// <group>/<Kind>/{health.lua,health_test.yaml,testdata/,actions/}, and are installed
// from argocd-cm.yaml; the scripts run here are the ConfigMap's, as Argo CD runs them.
const (
	integration = "../../integrations/argocd"
	group       = "tierkeeper.dev"
)

var configMap = filepath.Join(integration, "argocd-cm.yaml")

// kinds are those with a health.lua, as Argo CD finds its built-in checks.
func kinds(t *testing.T) []string {
	t.Helper()
	scripts, _ := filepath.Glob(filepath.Join(integration, group, "*", "health.lua"))
	if len(scripts) == 0 {
		t.Fatal("no health.lua under " + filepath.Join(integration, group))
	}
	found := make([]string, 0, len(scripts))
	for _, script := range scripts {
		found = append(found, filepath.Base(filepath.Dir(script)))
	}
	return found
}

// The merge patch each action must make Argo CD send, whatever the object.
var wantPatches = map[string]string{
	"Environment/suspend": `{"spec":{"suspend":true}}`,
	"Environment/resume":  `{"spec":{"suspend":false}}`,
	"Release/promote":     `{"spec":{"promote":true}}`,
	"Release/rollback":    `{"metadata":{"annotations":{"tierkeeper.dev/rollback":"true"}}}`,
	"Release/abort":       `{"metadata":{"annotations":{"tierkeeper.dev/abort":"true"}}}`,
}

type healthTests struct {
	Tests []struct {
		HealthStatus HealthStatus `json:"healthStatus"`
		InputPath    string       `json:"inputPath"`
	} `json:"tests"`
}

type actionTests struct {
	DiscoveryTests []struct {
		InputPath string           `json:"inputPath"`
		Result    []ResourceAction `json:"result"`
	} `json:"discoveryTests"`
	ActionTests []struct {
		Action             string `json:"action"`
		InputPath          string `json:"inputPath"`
		ExpectedOutputPath string `json:"expectedOutputPath"`
	} `json:"actionTests"`
}

func kindDir(kind string) string { return filepath.Join(integration, group, kind) }

func customization(t *testing.T, kind string) Customization {
	t.Helper()
	custom, err := LoadConfigMap(configMap, group, kind)
	if err != nil {
		t.Fatal(err)
	}
	return custom
}

func object(t *testing.T, path string) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := ReadYAML(path, &obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func asJSON(t *testing.T, value any) string {
	t.Helper()
	data, err := json.Marshal(value)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestConfigMapCarriesTheScriptsOfTheLayout(t *testing.T) {
	for _, kind := range kinds(t) {
		custom := customization(t, kind)
		if custom.Health != read(t, filepath.Join(kindDir(kind), "health.lua")) {
			t.Errorf("%s: the ConfigMap's health check is not %s/health.lua", kind, kind)
		}
		if custom.Actions.DiscoveryLua != read(t, filepath.Join(kindDir(kind), "actions", "discovery.lua")) {
			t.Errorf("%s: the ConfigMap's action discovery is not actions/discovery.lua", kind)
		}
		scripts, _ := filepath.Glob(filepath.Join(kindDir(kind), "actions", "*", "action.lua"))
		if len(scripts) != len(custom.Actions.Definitions) {
			t.Errorf("%s: %d action.lua files, %d definitions in the ConfigMap", kind, len(scripts), len(custom.Actions.Definitions))
		}
		for _, script := range scripts {
			name := filepath.Base(filepath.Dir(script))
			defined, err := custom.Actions.Action(name)
			if err != nil || defined != read(t, script) {
				t.Errorf("%s: the ConfigMap's action %s is not actions/%s/action.lua (%v)", kind, name, name, err)
			}
		}
	}
}

func TestHealthOfEverySample(t *testing.T) {
	for _, kind := range kinds(t) {
		script := customization(t, kind).Health
		var cases healthTests
		if err := ReadYAML(filepath.Join(kindDir(kind), "health_test.yaml"), &cases); err != nil {
			t.Fatal(err)
		}
		if len(cases.Tests) == 0 {
			t.Fatalf("%s: no health tests", kind)
		}
		for _, c := range cases.Tests {
			t.Run(kind+"/"+c.InputPath, func(t *testing.T) {
				got, err := Health(script, object(t, filepath.Join(kindDir(kind), c.InputPath)))
				if err != nil {
					t.Fatalf("script error (Argo CD would show Unknown): %v", err)
				}
				if got != c.HealthStatus {
					t.Errorf("got %+v, want %+v", got, c.HealthStatus)
				}
			})
		}
	}
}

func TestActionDiscoveryOffersExactlyTheExpectedActions(t *testing.T) {
	for _, kind := range kinds(t) {
		script := customization(t, kind).Actions.DiscoveryLua
		var cases actionTests
		if err := ReadYAML(filepath.Join(kindDir(kind), "actions", "action_test.yaml"), &cases); err != nil {
			t.Fatal(err)
		}
		if len(cases.DiscoveryTests) == 0 {
			t.Fatalf("%s: no discovery tests", kind)
		}
		for _, c := range cases.DiscoveryTests {
			t.Run(kind+"/"+c.InputPath, func(t *testing.T) {
				got, err := Discover(script, object(t, filepath.Join(kindDir(kind), "actions", c.InputPath)))
				if err != nil {
					t.Fatal(err)
				}
				want := map[string]ResourceAction{}
				for _, action := range c.Result {
					want[action.Name] = action
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("got %s\nwant %s", asJSON(t, got), asJSON(t, want))
				}
			})
		}
	}
}

func TestEachActionChangesExactlyWhatItPromises(t *testing.T) {
	tested := map[string]bool{}
	for _, kind := range kinds(t) {
		actions := customization(t, kind).Actions
		dir := filepath.Join(kindDir(kind), "actions")
		var cases actionTests
		if err := ReadYAML(filepath.Join(dir, "action_test.yaml"), &cases); err != nil {
			t.Fatal(err)
		}
		for _, c := range cases.ActionTests {
			name := kind + "/" + c.Action
			tested[name] = true
			t.Run(name+"/"+c.InputPath, func(t *testing.T) {
				script, err := actions.Action(c.Action)
				if err != nil {
					t.Fatal(err)
				}
				input := object(t, filepath.Join(dir, c.InputPath))
				got, err := Act(script, input)
				if err != nil {
					t.Fatal(err)
				}
				want := object(t, filepath.Join(dir, c.ExpectedOutputPath))
				if !reflect.DeepEqual(got, want) {
					t.Errorf("the object after the action is not %s: it differs by %s", c.ExpectedOutputPath, asJSON(t, MergePatch(want, got)))
				}
				patch, _ := json.Marshal(MergePatch(input, got))
				if string(patch) != wantPatches[name] {
					t.Errorf("Argo CD would patch %s, want %s", patch, wantPatches[name])
				}
			})
		}
		for _, d := range actions.Definitions {
			if !tested[kind+"/"+d.Name] {
				t.Errorf("action %s/%s has no test in action_test.yaml", kind, d.Name)
			}
		}
	}
	for name := range wantPatches {
		if !tested[name] {
			t.Errorf("action %s is expected but neither defined nor tested", name)
		}
	}
}

// The VM is Argo CD's only if what Argo CD leaves out is missing here too: a script
// that uses the string library must fail as it fails in Argo CD.
func TestOnlyArgoCDsLibrariesAreOpen(t *testing.T) {
	probe := `
local seen = {}
for _, name in ipairs({"string", "math", "io", "debug", "coroutine", "os", "channel"}) do
  if _G[name] ~= nil then table.insert(seen, name) end
end
local reduced = require("os")
local names = {}
for name in pairs(reduced) do table.insert(names, name) end
table.sort(names)
return { status = "Healthy", message = "open: " .. table.concat(seen, ",") .. "; require('os'): " .. table.concat(names, ",") }
`
	got, err := Health(probe, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "open: ; require('os'): date,time"; got.Message != want {
		t.Errorf("libraries: %q, want %q", got.Message, want)
	}
	for _, script := range []string{
		`return { status = "Healthy", message = string.format("%d", 1) }`,
		`return { status = "Healthy", message = ("x"):upper() }`,
	} {
		if _, err := Health(script, map[string]any{}); err == nil || !strings.Contains(err.Error(), "attempt to index a non-table object") {
			t.Errorf("%s: got %v, want the error Argo CD reports", script, err)
		}
	}
}

func TestObjectIsHandedOverAsArgoCDHandsIt(t *testing.T) {
	obj := map[string]any{
		"metadata": map[string]any{"generation": float64(3), "labels": map[string]any{}},
		"spec":     map[string]any{"list": []any{"a", "b"}, "gone": nil},
	}
	script := `return { status = "Healthy", message = obj.metadata.generation .. " " .. #obj.spec.list ..
  " " .. obj.spec.list[1] .. " " .. tostring(obj.spec.gone) }`
	got, err := Health(script, obj)
	if err != nil {
		t.Fatal(err)
	}
	if got.Message != "3 2 a nil" {
		t.Errorf("got %q", got.Message)
	}
	// An empty object survives an action that does not touch it (Lua cannot tell {} from []).
	after, err := Act(`obj.spec.list = nil; return obj`, obj)
	if err != nil {
		t.Fatal(err)
	}
	patch, _ := json.Marshal(MergePatch(obj, after))
	if string(patch) != `{"spec":{"gone":null,"list":null}}` {
		t.Errorf("patch %s", patch)
	}
}

func TestAnInvalidStatusIsUnknown(t *testing.T) {
	got, err := Health(`return { status = "Fine" }`, map[string]any{})
	if err != nil || got != (HealthStatus{Status: "Unknown", Message: invalidHealthStatus}) {
		t.Errorf("got %+v, %v", got, err)
	}
}
