// Pins the cert-manager release whose CRDs the integration tests install
// (see ../route-crds.sh); nothing here is built.
module tierkeeper.dev/hack/cert-manager

go 1.26

require github.com/cert-manager/cert-manager v1.21.2
