// Command floorplugin is the floor of an external Vault secrets plugin, for
// the benchmarks (scripts/bench.sh builds it; it is never released): built
// from the same Vault SDK and served the same way as the engine
// (plugin.ServeMultiplex), it has one path, creds/<name>, that answers a
// fixed credential under a lease, and a revoke that does nothing. No
// storage, no upstream, no logging on the request path. What a creds read
// costs through it is what Vault and the plugin protocol cost any external
// plugin; the engine is measured against it.
//
// A second path, book/<name>, answers the same after the Vault round trips
// the engine's checkout makes for its crash safety and lease maths (one
// SystemView MaxLeaseTTL, storage put, put, put, delete), with no logic
// around them: the benchmarks use it to tell the cost of those round trips
// (Vault's and the plugin protocol's) from the engine's own code. With
// wait_ms=N it also sleeps N ms where the engine makes its two upstream
// calls (after the first put, and before the delete): the engine's shape
// with a perfect upstream.
package main

import (
	"context"
	"os"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/plugin"
)

const secretType = "floor_credential"

func factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	secret := &framework.Secret{
		Type:   secretType,
		Fields: map[string]*framework.FieldSchema{"password": {Type: framework.TypeString}},
		Renew: func(_ context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
			return &logical.Response{Secret: req.Secret}, nil
		},
		Revoke: func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
			return nil, nil
		},
	}
	answer := func(name string) *logical.Response {
		resp := secret.Response(map[string]interface{}{
			"username": name,
			"password": "floor-not-a-secret",
		}, map[string]interface{}{"name": name})
		resp.Secret.TTL, resp.Secret.MaxTTL = time.Hour, 24*time.Hour
		return resp
	}
	var b *framework.Backend
	b = &framework.Backend{
		BackendType:    logical.TypeLogical,
		RunningVersion: "v0.0.1",
		Secrets:        []*framework.Secret{secret},
		Paths: []*framework.Path{{
			Pattern: "creds/" + framework.GenericNameRegex("name"),
			Fields:  map[string]*framework.FieldSchema{"name": {Type: framework.TypeLowerCaseString}},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: func(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
						return answer(d.Get("name").(string)), nil
					},
				},
			},
		}, {
			Pattern: "book/" + framework.GenericNameRegex("name"),
			Fields: map[string]*framework.FieldSchema{
				"name":    {Type: framework.TypeLowerCaseString},
				"wait_ms": {Type: framework.TypeInt},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
						name := d.Get("name").(string)
						wait := time.Duration(d.Get("wait_ms").(int)) * time.Millisecond
						_ = b.System().MaxLeaseTTL()
						for i, k := range []string{"wal/", "holders/", "leases/"} {
							if err := req.Storage.Put(ctx, &logical.StorageEntry{Key: k + name, Value: []byte(`{"floor":true}`)}); err != nil {
								return nil, err
							}
							if i == 0 && wait > 0 {
								time.Sleep(wait) // POST Requests
							}
						}
						if wait > 0 {
							time.Sleep(wait) // GET Credentials
						}
						if err := req.Storage.Delete(ctx, "wal/"+name); err != nil {
							return nil, err
						}
						return answer(name), nil
					},
				},
			},
		}},
	}
	if err := b.Setup(ctx, conf); err != nil {
		return nil, err
	}
	return b, nil
}

func main() {
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: os.Stderr, JSONFormat: true})
	meta := &api.PluginAPIClientMeta{}
	if err := meta.FlagSet().Parse(os.Args[1:]); err != nil {
		logger.Error("bad plugin arguments", "error", err)
		os.Exit(1)
	}
	if err := plugin.ServeMultiplex(&plugin.ServeOpts{
		BackendFactoryFunc: factory,
		TLSProviderFunc:    api.VaultPluginTLSProvider(meta.GetTLSConfig()),
		Logger:             logger,
	}); err != nil {
		logger.Error("plugin shutting down", "error", err)
		os.Exit(1)
	}
}
