// Package paths is the Vault API surface of the Password Safe secrets
// engine. It assembles the logical backend (the factory and the
// framework.Backend: paths, the lease secret type, the WAL rollback and
// periodic hooks, invalidation) and, per path family, owns the fields,
// validation, help text and OpenAPI attributes, the call into the engine,
// and the response and its wording.
//
// It calls package backend (the engine) through the concrete
// *backend.Engine, and must not keep lease or request state of its own.
package paths

import (
	"context"
	"fmt"
	"strings"
	"time"

	version "github.com/hashicorp/go-version"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
)

// DefaultVersion is reported when the build sets no version.
const DefaultVersion = "v0.0.0-dev"

// OperationPrefix is the OpenAPI operation prefix of every path.
const OperationPrefix = "passwordsafe"

const backendHelp = `
The Password Safe secrets engine checks privileged credentials out of
BeyondTrust Password Safe. Reading creds/<role> creates a Password Safe
release request and returns the credential under a Vault lease; renewing the
lease extends it up to the request's expiry, and revoking it (or its expiry)
checks the request in, rotating the credential when the role says so.

Configure the connection at config, define what to check out at roles/<name>,
then read creds/<name>.
`

// Backend is the logical backend of one mount: the framework.Backend that
// Vault talks to, and the engine its paths call.
type Backend struct {
	*framework.Backend
	engine *backend.Engine
	secret *framework.Secret // the lease type of checked-out credentials
}

// Factory is the logical.Factory with the default version.
func Factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	return NewFactory(DefaultVersion)(ctx, conf)
}

// NewFactory returns a logical.Factory whose backends report version as
// their RunningVersion (main passes the version set at build time).
func NewFactory(version string) logical.Factory {
	return func(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
		minAge, err := walRollbackMinAge(conf.Config)
		if err != nil {
			return nil, err
		}
		b := New(version, minAge)
		if err := b.Setup(ctx, conf); err != nil {
			return nil, err
		}
		return b, nil
	}
}

// New returns an unconfigured backend (call Setup, or use NewFactory) whose
// WAL entries are rolled back once walMinAge old (0: the default).
func New(version string, walMinAge time.Duration) *Backend {
	if !ValidVersion(version) {
		version = DefaultVersion
	}
	if walMinAge <= 0 {
		walMinAge = backend.DefaultWALRollbackMinAge
	}
	b := &Backend{Backend: &framework.Backend{}}
	b.engine = backend.New(b.Backend, walMinAge)
	b.secret = credsSecret(b.engine)
	*b.Backend = framework.Backend{
		Help:        strings.TrimSpace(backendHelp),
		BackendType: logical.TypeLogical,
		PathsSpecial: &logical.Paths{
			SealWrapStorage: []string{backend.ConfigKey},
			LocalStorage:    backend.LocalPrefixes,
		},
		// creds first: the framework tries path patterns in order, and
		// creds/ is the hot path.
		Paths: framework.PathAppend(
			credsPaths(b.engine, b.secret),
			configPaths(b.engine),
			rolePaths(b.engine),
			rotatePaths(b.engine),
			requestPaths(b.engine, b.secret),
			aliasPaths(b.engine),
			accountPaths(b.engine),
			secretsSafePaths(b.engine),
			systemPaths(b.engine),
			statusPaths(b.engine),
		),
		Secrets: []*framework.Secret{b.secret},
		WALRollback: func(ctx context.Context, req *logical.Request, kind string, data interface{}) error {
			return b.engine.Rollback(ctx, req.Storage, kind, data)
		},
		WALRollbackMinAge: walMinAge,
		PeriodicFunc: func(ctx context.Context, req *logical.Request) error {
			return b.engine.Periodic(ctx, req.Storage)
		},
		Invalidate:     b.engine.Invalidate,
		Clean:          b.engine.Close,
		RunningVersion: version,
	}
	return b
}

// Engine is the mount's engine (tests reach its knobs through it).
func (b *Backend) Engine() *backend.Engine { return b.engine }

// walRollbackMinAge reads the wal_rollback_min_age mount option (vault
// secrets enable -options=wal_rollback_min_age=...), which Vault hands to
// the factory in conf.Config; 0 when not set.
func walRollbackMinAge(opts map[string]string) (time.Duration, error) {
	v, ok := opts["wal_rollback_min_age"]
	if !ok || v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < backend.MinWALRollbackMinAge {
		return 0, fmt.Errorf("mount option wal_rollback_min_age=%q: want a duration of at least %s (default %s)",
			v, backend.MinWALRollbackMinAge, backend.DefaultWALRollbackMinAge)
	}
	return d, nil
}

// ValidVersion reports whether v is a semantic version as Vault's plugin
// catalog wants it (with or without the leading v).
func ValidVersion(v string) bool {
	_, err := version.NewSemver(v)
	return err == nil
}
