// Package argocdlua runs Argo CD health checks and resource actions the way Argo CD
// v3.5.1 runs those installed in the argocd-cm ConfigMap (its util/lua package): in
// gopher-lua, with only the base, table and package libraries and an os reduced to
// time and date behind require (no string, math, io or debug), the resource as the
// global `obj`, one second to finish, and the result turned into JSON by
// layeh.com/gopher-json.
package argocdlua

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	lua "github.com/yuin/gopher-lua"
	luajson "layeh.com/gopher-json"
)

// Argo CD cancels a script after one second.
const timeout = time.Second

// HealthStatus is what Argo CD reads from the table a health check returns.
type HealthStatus struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
}

// ResourceAction is one entry of the table an action discovery script returns.
type ResourceAction struct {
	Name        string `json:"name,omitempty"`
	Disabled    bool   `json:"disabled,omitempty"`
	IconClass   string `json:"iconClass,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
}

// The statuses Argo CD accepts; any other becomes Unknown with this message.
var healthStatuses = map[string]bool{
	"Unknown": true, "Progressing": true, "Suspended": true,
	"Healthy": true, "Degraded": true, "Missing": true,
}

const invalidHealthStatus = "Lua returned an invalid health status"

// newState opens exactly the libraries Argo CD opens when useOpenLibs is not set:
// package, base and table. Argo CD also means to open an os reduced to time and date,
// but registers it under the name of the table library, which is open already, so no
// global `os` exists; only require("os") returns that reduced os.
func newState() *lua.LState {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, lua.OpenOs},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	// gopher-lua's os.time and os.date (Argo CD's are copies of them), then no os
	// library left open: nothing that exits, reads files or runs commands.
	full := L.GetGlobal(lua.OsLibName).(*lua.LTable)
	osTime, osDate := full.RawGetString("time"), full.RawGetString("date")
	L.SetGlobal(lua.OsLibName, lua.LNil)
	L.SetField(L.Get(lua.RegistryIndex).(*lua.LTable).RawGetString("_LOADED"), lua.OsLibName, lua.LNil)
	L.PreloadModule(lua.OsLibName, func(L *lua.LState) int {
		reduced := L.NewTable()
		reduced.RawSetString("time", osTime)
		reduced.RawSetString("date", osDate)
		L.Push(reduced)
		return 1
	})
	return L
}

// toLua turns a JSON-decoded value into the Lua value Argo CD hands a script: objects
// become tables keyed by string, arrays tables indexed from 1, numbers Lua numbers,
// and null nothing at all (a key whose value is null is absent from its table).
func toLua(L *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []any:
		t := L.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(L, item))
		}
		return t
	case map[string]any:
		t := L.CreateTable(0, len(v))
		for key, item := range v {
			t.RawSetH(lua.LString(key), toLua(L, item))
		}
		return t
	}
	panic(fmt.Sprintf("not a JSON value: %T", value))
}

// run executes script with obj (JSON-decoded) as the global `obj` and an empty
// `actionParams`, and returns the JSON of the value the script returned.
func run(script string, obj map[string]any) ([]byte, lua.LValueType, error) {
	L := newState()
	defer L.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	L.SetContext(ctx)
	L.SetGlobal("actionParams", L.NewTable())
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		return nil, lua.LTNil, err
	}
	result := L.Get(-1)
	if result.Type() != lua.LTTable {
		return nil, result.Type(), nil
	}
	data, err := luajson.Encode(result)
	return data, lua.LTTable, err
}

// Health runs a health check and returns the status Argo CD would show.
func Health(script string, obj map[string]any) (HealthStatus, error) {
	data, kind, err := run(script, obj)
	if err != nil {
		return HealthStatus{}, err
	}
	switch kind {
	case lua.LTNil:
		return HealthStatus{}, nil
	case lua.LTTable:
	default:
		return HealthStatus{}, fmt.Errorf("health check returned a %s, not a table", kind)
	}
	// An empty table encodes as [], which Argo CD reads as an empty status.
	if string(data) == "[]" {
		return HealthStatus{}, nil
	}
	var status HealthStatus
	if err := json.Unmarshal(data, &status); err != nil {
		return HealthStatus{}, err
	}
	if !healthStatuses[status.Status] {
		return HealthStatus{Status: "Unknown", Message: invalidHealthStatus}, nil
	}
	return status, nil
}

// Discover runs an action discovery script and returns the actions it offers, by name.
func Discover(script string, obj map[string]any) (map[string]ResourceAction, error) {
	data, kind, err := run(script, obj)
	if err != nil {
		return nil, err
	}
	if kind != lua.LTTable {
		return nil, fmt.Errorf("action discovery returned a %s, not a table", kind)
	}
	found := map[string]ResourceAction{}
	if string(data) == "[]" { // no action at all
		return found, nil
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, err
	}
	for name, raw := range entries {
		action := ResourceAction{}
		// An empty table (encoded []) is an action with every field at its default.
		if string(raw) != "[]" {
			if err := json.Unmarshal(raw, &action); err != nil {
				return nil, fmt.Errorf("action %s: %w", name, err)
			}
		}
		action.Name = name
		found[name] = action
	}
	return found, nil
}

// Act runs an action script that returns the modified resource (the form Argo CD has
// always accepted; it patches the live object towards it) and returns that object.
func Act(script string, obj map[string]any) (map[string]any, error) {
	data, kind, err := run(script, obj)
	if err != nil {
		return nil, err
	}
	if kind != lua.LTTable {
		return nil, fmt.Errorf("action returned a %s, not a table", kind)
	}
	var result any
	if err := json.Unmarshal(data, &result); err != nil {
		return nil, err
	}
	modified, ok := result.(map[string]any)
	if !ok {
		return nil, errors.New("action returned a list: only actions that return the object are handled here")
	}
	return restoreEmptyObjects(modified, obj), nil
}

// restoreEmptyObjects undoes what the JSON encoder cannot know: an empty Lua table is
// written as [], so wherever the live object held an object ({}) and the result holds
// an empty list, the object is put back, as Argo CD does before it computes the patch.
func restoreEmptyObjects(result, live map[string]any) map[string]any {
	for key, value := range result {
		switch v := value.(type) {
		case map[string]any:
			if before, ok := live[key].(map[string]any); ok {
				result[key] = restoreEmptyObjects(v, before)
			}
		case []any:
			switch before := live[key].(type) {
			case map[string]any:
				if len(v) == 0 {
					result[key] = map[string]any{}
				}
			case []any:
				result[key] = restoreEmptyObjectsIn(v, before)
			}
		}
	}
	return result
}

func restoreEmptyObjectsIn(result, live []any) []any {
	for i := 0; i < len(result) && i < len(live); i++ {
		switch v := result[i].(type) {
		case map[string]any:
			if before, ok := live[i].(map[string]any); ok {
				result[i] = restoreEmptyObjects(v, before)
			}
		case []any:
			if before, ok := live[i].([]any); ok {
				result[i] = restoreEmptyObjectsIn(v, before)
			}
		}
	}
	return result
}

// MergePatch is the JSON merge patch (RFC 7386) from live to modified: what Argo CD
// sends to the API server after an action.
func MergePatch(live, modified map[string]any) map[string]any {
	patch := map[string]any{}
	for key, before := range live {
		after, kept := modified[key]
		if !kept {
			patch[key] = nil
			continue
		}
		beforeMap, wasMap := before.(map[string]any)
		afterMap, isMap := after.(map[string]any)
		if wasMap && isMap {
			if inner := MergePatch(beforeMap, afterMap); len(inner) > 0 {
				patch[key] = inner
			}
			continue
		}
		if !jsonEqual(before, after) {
			patch[key] = after
		}
	}
	for key, after := range modified {
		if _, existed := live[key]; !existed {
			patch[key] = after
		}
	}
	return patch
}

func jsonEqual(a, b any) bool {
	left, errLeft := json.Marshal(a)
	right, errRight := json.Marshal(b)
	return errLeft == nil && errRight == nil && string(left) == string(right)
}
