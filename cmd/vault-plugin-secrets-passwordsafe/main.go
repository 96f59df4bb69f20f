// Command vault-plugin-secrets-passwordsafe is the Vault plugin binary of the
// BeyondTrust Password Safe secrets engine: it serves paths.NewFactory and
// must hold no logic of its own.
package main

import (
	"fmt"
	"os"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/sdk/plugin"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/paths"
)

// version is set at build time: -ldflags "-X main.version=v0.1.0". It is
// what the plugin reports to Vault (RunningVersion) and must be semver.
var version = paths.DefaultVersion

func main() {
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: os.Stderr, JSONFormat: true})
	if !paths.ValidVersion(version) {
		logger.Error("the build set an invalid (non-semver) version; reporting the default instead",
			"version", version, "default", paths.DefaultVersion)
	}
	// Vault starts plugins with its TLS flags (-ca-cert etc.); the TLS
	// provider uses them for protocol v3/v4 hosts. Multiplexed plugins
	// (protocol v5, every current Vault) use AutoMTLS and ignore it.
	meta := &api.PluginAPIClientMeta{}
	flags := meta.FlagSet()
	// -version is for people (and scripts/release-verify.sh): which build is
	// this binary? Vault never passes it.
	showVersion := flags.Bool("version", false, "print the plugin's version and exit")
	if err := flags.Parse(os.Args[1:]); err != nil {
		logger.Error("bad plugin arguments", "error", err)
		os.Exit(1)
	}
	if *showVersion {
		fmt.Println(version)
		return
	}
	err := plugin.ServeMultiplex(&plugin.ServeOpts{
		BackendFactoryFunc: paths.NewFactory(version),
		TLSProviderFunc:    api.VaultPluginTLSProvider(meta.GetTLSConfig()),
		Logger:             logger,
	})
	if err != nil {
		logger.Error("plugin shutting down", "error", err)
		os.Exit(1)
	}
}
