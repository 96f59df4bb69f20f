package paths

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

const rotateHelpSynopsis = "Change the credential of a role's account in Password Safe now."

const rotateHelpDescription = `
Writing roles/<name>/rotate asks Password Safe to change the credential of the
role's managed account (POST ManagedAccounts/{id}/Credentials/Change), as the
role's run-as user, which needs Password Safe's "Account Management (Full
control)" permission. For an alias role, the account the alias maps to now is
changed (Password Safe has no credential change by alias).

  password       the new password (write-only: never logged or returned);
                 empty lets Password Safe generate a new random one.
  queue          when the managed system is unreachable, queue the change
                 instead of failing (Password Safe's default: false).
  update_system  change the credential on the managed system too (default:
                 true); false changes only what Password Safe stores, for a
                 password already changed on the system by other means.
  force          rotate even while this mount holds leases or pending claims
                 on the account, or a check-in of it Password Safe has not
                 taken yet (default: false). Without it such a rotation is
                 refused with HTTP 409 naming them; with it the answer lists
                 them: their credential changes under them.

Queued check-ins of the account (revoked leases whose check-in Password Safe
did not take) are tried first: landing later, one would rotate the
credential again and replace the one set now.

Checkouts by the same run-as user of the account, and through any alias
role (an alias may map to another account than when its role was written),
wait until the change is done and get the new credential. Another run-as
user's checkout that begins meanwhile is named in the answer.

An answer of unknown outcome (no answer, a timeout, a 5xx) says so: the
credential may or may not have changed. Check out the role to see which
password Password Safe holds before trying again.

Examples:

    vault write -f passwordsafe/roles/db/rotate
    vault write passwordsafe/roles/db/rotate password=@new-password.txt update_system=false
    vault write passwordsafe/roles/db/rotate queue=true force=true
`

// rotatePaths is roles/:name/rotate (write).
func rotatePaths(engine *backend.Engine) []*framework.Path {
	h := &rotateHandler{engine: engine}
	return []*framework.Path{{
		Pattern: "roles/" + framework.GenericNameRegex("name") + "/rotate$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: OperationPrefix,
			OperationSuffix: "role-credential",
		},
		Fields: map[string]*framework.FieldSchema{
			"name": {
				Type:         framework.TypeString,
				Description:  "Name of the role whose account's credential changes.",
				Required:     true,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Role name"},
			},
			"password": {
				Type: framework.TypeString,
				Description: "The new password (write-only: never logged or returned). Empty lets Password Safe " +
					"generate a new random password.",
				DisplayAttrs: &framework.DisplayAttributes{Name: "New password", Sensitive: true},
			},
			"queue": {
				Type:         framework.TypeBool,
				Default:      false,
				Description:  "Queue the change in Password Safe when the managed system is unreachable, instead of failing.",
				DisplayAttrs: &framework.DisplayAttributes{Name: "Queue if unreachable"},
			},
			"update_system": {
				Type:    framework.TypeBool,
				Default: true,
				Description: "Change the credential on the managed system as well as in Password Safe; false changes " +
					"only what Password Safe stores.",
				DisplayAttrs: &framework.DisplayAttributes{Name: "Update the managed system"},
			},
			"force": {
				Type:    framework.TypeBool,
				Default: false,
				Description: "Rotate even while this mount holds leases or pending claims on the account, or a " +
					"queued check-in of it Password Safe has not taken; their credential changes under them (the " +
					"answer names them).",
				DisplayAttrs: &framework.DisplayAttributes{Name: "Force"},
			},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{
				Callback:                    h.rotate,
				DisplayAttrs:                &framework.DisplayAttributes{OperationVerb: "rotate"},
				Summary:                     "Change the credential of the role's account in Password Safe.",
				ForwardPerformanceStandby:   true,
				ForwardPerformanceSecondary: true,
			},
		},
		HelpSynopsis:    rotateHelpSynopsis,
		HelpDescription: strings.TrimSpace(rotateHelpDescription),
	}}
}

type rotateHandler struct{ engine *backend.Engine }

// rotateRunAsFields may not pick the user here (password is the new password).
var rotateRunAsFields = []string{"run_as", "run_as_source", "run_as_mount_accessor", "run_as_metadata_key"}

func (h *rotateHandler) rotate(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	for _, f := range rotateRunAsFields {
		if _, ok := req.Data[f]; ok {
			return logical.ErrorResponse("%s cannot be given here: the Password Safe user is decided by the config "+
				"and role and the caller's Vault identity, not by the caller", f), nil
		}
	}
	name := d.Get("name").(string)
	role, err := h.engine.Role(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if role == nil {
		return logical.ErrorResponse("role %q does not exist", name), nil
	}
	in := backend.RotateInput{
		Role: role,
		// A password may start or end with spaces, but not with a line
		// break: one is what password=@file leaves from an editor.
		Password:     strings.TrimRight(d.Get("password").(string), "\r\n"),
		Queue:        d.Get("queue").(bool),
		UpdateSystem: d.Get("update_system").(bool),
		Force:        d.Get("force").(bool),
	}
	if _, given := req.Data["password"]; given && in.Password == "" {
		return logical.ErrorResponse("password is empty: leave it out to let Password Safe generate a new password"), nil
	}
	if !in.UpdateSystem && in.Password == "" {
		return logical.ErrorResponse("update_system=false needs password: Password Safe would store a generated " +
			"password that the managed system does not have"), nil
	}
	res, err := h.engine.Rotate(ctx, req, in)
	if err != nil {
		return rotateError(req, role, in, err)
	}
	data := map[string]interface{}{
		"role":          res.Role,
		"system_id":     res.SystemID,
		"system_name":   res.SystemName,
		"account_id":    res.AccountID,
		"account_name":  res.AccountName,
		"run_as":        res.RunAs,
		"generated":     res.Generated,
		"queue":         res.Queue,
		"update_system": res.UpdateSystem,
	}
	if res.AliasID != 0 {
		data["alias_id"], data["alias_name"] = res.AliasID, res.AliasName
	}
	affected := make([]map[string]interface{}, 0, len(res.Affected))
	for _, a := range res.Affected {
		affected = append(affected, map[string]interface{}{
			"request_id": a.RequestID, "role": a.Role, "run_as": a.RunAs,
			"leases": a.Leases, "pending_claims": a.Pending, "checkout_in_progress": a.Unfinished,
			"checkin_queued": a.Queued,
		})
	}
	data["affected"] = affected
	resp := &logical.Response{Data: data}
	if res.Queue {
		resp.AddWarning("queue=true: if the managed system was unreachable, Password Safe queued the change and applies it " +
			"when the system can be reached (its answer is the same either way)")
	}
	if !res.UpdateSystem {
		resp.AddWarning("update_system=false: only the password Password Safe stores changed; the managed system must " +
			"already have it")
	}
	if len(res.Affected) > 0 {
		// Without force, holdings here began while the credential changed
		// (another run-as user's checkout, which the rotation does not hold
		// back): the warning must not claim a force the caller never gave.
		why := "force=true: the credential changed under this mount's holdings"
		if !in.Force {
			why = "this mount's holdings of the account began while the credential changed (a rotation holds back " +
				"only its own run-as user's checkouts)"
		}
		resp.AddWarning(fmt.Sprintf("%s, whose holders now have a password that no longer works: %s. Revoke those "+
			"leases (%s) and check out again", why, backend.DescribeHoldings(res.Affected), revokeHint(req, res.Affected)))
		if queuedHoldings(res.Affected) {
			resp.AddWarning("a queued check-in lands when Password Safe takes it; a request made with rotation on " +
				"check-in then changes the credential again, replacing the one set now")
		}
	}
	return resp, nil
}

func queuedHoldings(hs []backend.Holding) bool {
	for _, h := range hs {
		if h.Queued {
			return true
		}
	}
	return false
}

// mountOf is the mount's path for vault commands in messages.
func mountOf(req *logical.Request) string {
	if req != nil && req.MountPoint != "" {
		return req.MountPoint
	}
	return "<mount>/"
}

// revokeHint is the vault command that revokes the holdings' leases, by
// role (a queued check-in needs no command: the engine retries it).
func revokeHint(req *logical.Request, hs []backend.Holding) string {
	mount := mountOf(req)
	seen := map[string]bool{}
	var cmds []string
	for _, h := range hs {
		if h.Leases+h.Pending == 0 && !h.Unfinished {
			continue
		}
		if !seen[h.Role] {
			seen[h.Role] = true
			cmds = append(cmds, "vault lease revoke -prefix "+mount+"creds/"+h.Role)
		}
	}
	return strings.Join(cmds, "; ")
}

// rotateError words a failed rotation: the 409 with what to do, Password
// Safe's refusals in the terms of this call, and an unknown outcome as such.
func rotateError(req *logical.Request, role *backend.Role, in backend.RotateInput, err error) (*logical.Response, error) {
	var conflict *backend.RotateConflictError
	if errors.As(err, &conflict) {
		first := "Revoke them first (" + revokeHint(req, conflict.Holdings) + ")"
		if queuedHoldings(conflict.Holdings) {
			first = "Password Safe did not take the queued check-in when asked just now; the engine retries it " +
				"every minute (see " + mountOf(req) + "status), so rotate again once it has"
			if hint := revokeHint(req, conflict.Holdings); hint != "" {
				first += "; revoke the leases first (" + hint + ")"
			}
		}
		return nil, logical.CodedError(http.StatusConflict, fmt.Sprintf(
			"cannot rotate: %v. %s, or write force=true to rotate anyway", conflict, first))
	}
	var op *backend.OpError
	if !errors.As(err, &op) {
		return apiError(req, err)
	}
	switch {
	case client.IsForbidden(err):
		return nil, logical.CodedError(http.StatusForbidden, fmt.Sprintf(
			"cannot %s: Password Safe refused it (HTTP 403): changing credentials needs the \"Password Safe Account "+
				"Management (Full control)\" permission for the run-as user, and this user lacks it for this account: %v",
			op.Op, op.Err))
	case client.IsNotFound(err):
		return nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf(
			"cannot %s: Password Safe does not know the account (HTTP 404); it may have been deleted or moved since "+
				"role %q was written (write the role again): %v", op.Op, role.Name, op.Err))
	case !backend.Definite(err):
		uerr := UpstreamError(op.Op, op.Err)
		status := http.StatusBadGateway
		var coded logical.HTTPCodedError
		if errors.As(uerr, &coded) {
			status = coded.Code()
		}
		return nil, logical.CodedError(status, fmt.Sprintf(
			"%v. The outcome is unknown: Password Safe may or may not have changed the credential. Read "+
				"creds/%s (or look in Password Safe) to see which password it holds before rotating again", uerr, role.Name))
	}
	return apiError(req, err)
}
