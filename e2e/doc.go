// Package e2e holds the end-to-end tests: they drive the real Vault server
// (bin/vault, built by scripts/build-vault.sh), the real plugin binary
// (bin/vault-plugin-secrets-passwordsafe) over go-plugin's gRPC, and the
// Password Safe simulator (client/pstest) on loopback, through the vault CLI
// and Vault Agent, exactly as users run them.
//
// The tests carry the build tag e2e; run them with `make e2e`, which builds
// both binaries first.
package e2e
