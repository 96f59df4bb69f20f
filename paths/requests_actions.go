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

// requestAction is approve, deny, checkin or rotate-on-checkin.
type requestAction struct {
	h      *requestsHandler
	name   string // path segment
	verb   string // for messages
	done   string // for the log
	reason bool
	do     func(ctx context.Context, cl *client.Client, id int, reason string) error
}

func (a *requestAction) handle(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if bad := refuseRunAsOverride(req); bad != nil {
		return bad, nil
	}
	id, bad := requestID(d)
	if bad != nil {
		return bad, nil
	}
	var reason string
	if a.reason {
		reason = d.Get("reason").(string)
		if err := ValidateReason("reason", reason, MaxReasonLen); err != nil {
			return logical.ErrorResponse(err.Error()), nil
		}
		if strings.TrimSpace(reason) == "" {
			reason = defaultReason(req)
		}
	}
	cl, runAs, _, err := callerSession(ctx, a.h.engine, req, false)
	if err != nil {
		return nil, err
	}
	if err := a.do(ctx, cl, id, reason); err != nil {
		return nil, a.refusal(id, runAs, err)
	}
	if ev, ok := actionEvents[a.name]; ok {
		a.h.engine.Acted(ctx, req.Storage, ev, id, runAs, req.EntityID)
	}
	a.h.engine.Logger().Info("Password Safe request "+a.done, "request_id", id, "run_as", runAs, "entity_id", req.EntityID)
	return nil, nil
}

// actionEvents are the actions that end leases or send a Vault event (see
// backend.Engine.Acted); rotate-on-checkin only changes a setting.
var actionEvents = map[string]backend.RequestAction{
	"approve": backend.ActionApprove, "deny": backend.ActionDeny, "checkin": backend.ActionCheckin,
}

// defaultReason names the Vault path (and entity) in Password Safe's audit.
func defaultReason(req *logical.Request) string {
	r := "vault: " + req.MountPoint + req.Path
	if req.EntityID != "" {
		r += " (entity " + req.EntityID + ")"
	}
	return backend.CutReason(r, MaxReasonLen)
}

// refusal turns a failed action into an error whose message says, in the
// terms of this action, what Password Safe's refusal means.
func (a *requestAction) refusal(id int, runAs string, err error) error {
	what := fmt.Sprintf("%s Password Safe request %d as run-as user %q", a.verb, id, runAs)
	var hint string
	owner := a.name == "checkin" || a.name == "rotate-on-checkin"
	switch code := client.SubCode(err); {
	case client.IsNotFound(err):
		hint = "the request has ended (checked in, denied or expired) or does not exist"
	case code == client.CodeApproverOnly && !owner:
		hint = "Password Safe does not let a user approve or deny their own request (4033); another approver must"
	case code == client.CodeAlreadyApproved:
		hint = "the request is approved already (4036)"
	case code == client.CodeNotApproved:
		hint = "the request is not approved yet (4034); an approver can deny it, or it ends when unapproved requests expire"
	case code == client.CodeNotEnoughApprover:
		hint = "Password Safe has not enough approvers configured for this account (4035)"
	case code == client.CodeRequestorOnly && !owner:
		hint = fmt.Sprintf("run-as user %q is a requestor, not an approver (4032)", runAs)
	case code == client.CodeNoPermission && owner:
		hint = fmt.Sprintf("run-as user %q did not make this request (4031); Password Safe lets only the requestor change it "+
			"(a Vault lease on it ends with vault lease revoke)", runAs)
	case code == client.CodeNoPermission:
		hint = fmt.Sprintf("run-as user %q may not approve or deny requests for this account (4031)", runAs)
	}
	uerr := UpstreamError(what, err)
	if hint == "" {
		return uerr
	}
	status := http.StatusBadGateway
	var coded logical.HTTPCodedError
	if errors.As(uerr, &coded) {
		status = coded.Code()
	}
	return logical.CodedError(status, fmt.Sprintf("cannot %s: %s (%v)", what, hint, err))
}
