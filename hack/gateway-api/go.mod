// Pins the Gateway API release whose CRDs the integration tests install
// (see ../route-crds.sh); nothing here is built.
module tierkeeper.dev/hack/gateway-api

go 1.26

require sigs.k8s.io/gateway-api v1.6.3
