package main

import (
	"os"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/plugin"
	_ "github.com/hashicorp/go-plugin"
	_ "gopkg.in/yaml.v3"
)

var _ = framework.Backend{}
var _ logical.Storage

func main() {
	_ = plugin.ServeMultiplex
	hclog.Default()
	os.Exit(0)
}
