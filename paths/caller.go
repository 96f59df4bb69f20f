package paths

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// What the requests, aliases and accounts families share: the caller's
// Password Safe session.

// errNotConfigured answers calls made before config is written.
var errNotConfigured = logical.CodedError(http.StatusBadRequest, backend.ErrNotConfigured.Error())

// runAsFields are request fields by which a caller might try to pick the
// Password Safe user. The run-as user is decided by config, role and the
// caller's identity, never by the caller: such fields are refused rather
// than silently ignored.
var runAsFields = []string{"run_as", "run_as_source", "run_as_mount_accessor", "run_as_metadata_key", "password"}

func refuseRunAsOverride(req *logical.Request) *logical.Response {
	for _, f := range runAsFields {
		if _, ok := req.Data[f]; ok {
			return logical.ErrorResponse("%s cannot be given here: the Password Safe user is decided by the config "+
				"(or role) and the caller's Vault identity, not by the caller", f)
		}
	}
	return nil
}

// callerSession is the Password Safe session of the caller's run-as user
// as the config decides it (run_as, or the caller's identity). Roles'
// run-as overrides apply to checkouts of that role only, so an approver
// can never borrow a role's user.
//
// discovery (aliases/, accounts/) falls back to the config's run_as when
// the caller's identity gives no user, as role writes do (an operator
// without an entity discovering what to put in a role); the answer then
// carries a warning naming the user it ran as. A caller whose identity
// names a refused user (RunAsRefusedError) gets the 403, never the
// fallback.
func callerSession(ctx context.Context, engine *backend.Engine, req *logical.Request, discovery bool) (*client.Client, string, []string, error) {
	cfg, err := engine.Config(ctx, req.Storage)
	if err != nil {
		return nil, "", nil, err
	}
	if cfg == nil {
		return nil, "", nil, errNotConfigured
	}
	var warnings []string
	runAs, err := engine.ResolveRunAs(ctx, req, cfg, nil)
	if err != nil {
		err = hinted(req, err)
		var coded logical.HTTPCodedError
		if !discovery || cfg.RunAs == "" || backend.IsRunAsRefused(err) || !errors.As(err, &coded) || coded.Code() != http.StatusForbidden {
			return nil, "", nil, err
		}
		runAs = cfg.RunAs
		warnings = append(warnings, fmt.Sprintf("listed as the config's run_as user %q: %v", runAs, err))
	}
	cl, err := engine.Client(ctx, req.Storage, runAs)
	if err != nil {
		return nil, "", nil, UpstreamError("connect to Password Safe", err)
	}
	return cl, runAs, warnings, nil
}
