//go:build tools

// Package tools pins the Vault server that the e2e tests and `make dev` build.
package tools

import _ "github.com/hashicorp/vault"
