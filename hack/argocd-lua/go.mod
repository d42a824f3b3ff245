// Argo CD's Lua VM for the health checks and resource actions in
// integrations/argocd: gopher-lua at the version Argo CD v3.5.1 pins in its go.mod,
// and the JSON encoder Argo CD turns the scripts' results into JSON with.
module tierkeeper.dev/hack/argocd-lua

go 1.26

require (
	github.com/yuin/gopher-lua v1.1.2
	layeh.com/gopher-json v0.0.0-20190114024228-97fed8db8427
	sigs.k8s.io/yaml v1.6.0
)

require go.yaml.in/yaml/v2 v2.4.2 // indirect
