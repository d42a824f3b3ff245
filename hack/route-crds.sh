#!/usr/bin/env bash
# The CRDs routes are checked against: Gateway API's standard channel (GatewayClass,
# Gateway, HTTPRoute, ReferenceGrant) and cert-manager's Certificate and issuers, at the
# releases pinned in hack/gateway-api/go.mod and hack/cert-manager/go.mod, from their Go
# modules; prints the two directories, one a line (see crds-from-module.sh).
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
gateway=config/crd/standard/gateway.networking.k8s.io
bash "$here/crds-from-module.sh" gateway-api sigs.k8s.io/gateway-api \
  "${gateway}_gatewayclasses.yaml" "${gateway}_gateways.yaml" \
  "${gateway}_httproutes.yaml" "${gateway}_referencegrants.yaml"
bash "$here/crds-from-module.sh" cert-manager github.com/cert-manager/cert-manager \
  deploy/crds/cert-manager.io_certificates.yaml deploy/crds/cert-manager.io_issuers.yaml \
  deploy/crds/cert-manager.io_clusterissuers.yaml
