// Pins the CloudNativePG release whose CRDs the integration tests install
// (see ../cloudnative-pg-crds.sh); nothing here is built.
module tierkeeper.dev/hack/cloudnative-pg

go 1.26

require github.com/cloudnative-pg/cloudnative-pg v1.28.2
