package paths

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
)

const credsHelpSynopsis = "Check a credential out of Password Safe under a Vault lease."

const credsHelpDescription = `
Reading creds/<role> creates a Password Safe release request for the role's
target and returns the credential under a Vault lease:

  username, domain, password         the account and its password
  private_key, passphrase            when the role's credential_types ask
  request_id, system_name,
  account_name, expires_at           the Password Safe request behind the lease

The lease IS the request. Its max TTL is the role's (or the mount's) max TTL,
and the request lasts that long (rounded up to whole minutes, capped by the
account's maximum release duration); renewing extends the lease up to the
request's expiry, never past it. Revoking the lease, or its expiry, checks
the request in, rotating the credential when the role's rotate_on_checkin is
set.

Writing creds/<role> does the same with per-call settings: ttl (capped by
the max TTL), reason and ticket_number.

When the account's policy needs an approver, the read waits up to the role's
approval_wait, then answers with status "pending" and the request_id; once
approved, read the credential with: vault read <mount>/requests/<id>/creds

A conflicting open request (HTTP 409) is reported with what to do; see the
role's conflict_option.

Examples:

    vault read passwordsafe/creds/db
    vault write passwordsafe/creds/db ttl=15m reason="INC-1234 hotfix" ticket_number=INC-1234
    vault lease revoke <lease_id>
`

// credsPaths is the creds path family.
func credsPaths(engine *backend.Engine, secret *framework.Secret) []*framework.Path {
	h := &credsHandler{engine: engine, secret: secret}
	return []*framework.Path{{
		Pattern: "creds/" + framework.GenericNameRegex("name"),
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: OperationPrefix,
			OperationVerb:   "check-out",
		},
		Fields: mergeFields(map[string]*framework.FieldSchema{
			"name": {
				Type:         framework.TypeLowerCaseString,
				Description:  "Name of the role to check out.",
				Required:     true,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Role name"},
			},
		}, checkoutFields("", "Lease TTL for this checkout")),
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback:                    h.checkout,
				DisplayAttrs:                &framework.DisplayAttributes{OperationSuffix: "credentials"},
				Summary:                     "Check out the role's credential with the role's defaults.",
				ForwardPerformanceStandby:   true,
				ForwardPerformanceSecondary: true,
			},
			logical.UpdateOperation: &framework.PathOperation{
				Callback:                    h.checkout,
				DisplayAttrs:                &framework.DisplayAttributes{OperationSuffix: "credentials-with-parameters"},
				Summary:                     "Check out the role's credential with a per-call ttl, reason or ticket number.",
				ForwardPerformanceStandby:   true,
				ForwardPerformanceSecondary: true,
			},
		},
		HelpSynopsis:    credsHelpSynopsis,
		HelpDescription: strings.TrimSpace(credsHelpDescription),
	}}
}

type credsHandler struct {
	engine *backend.Engine
	secret *framework.Secret
}

func (h *credsHandler) checkout(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	role, err := h.engine.Role(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if role == nil {
		return logical.ErrorResponse("role %q does not exist", name), nil
	}
	in := backend.CheckoutInput{Role: role}
	if err := checkoutSettings(d, &in); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	res, err := h.engine.Checkout(ctx, req, in)
	if err != nil {
		return apiError(req, err)
	}
	return checkoutResponse(req, h.secret, res), nil
}

// checkoutResponse is the answer to a checkout: the credential under a
// lease, or the pending request and how to read its credential later.
func checkoutResponse(req *logical.Request, secret *framework.Secret, res *backend.CheckoutResult) *logical.Response {
	if res.Grant != nil {
		return grantResponse(secret, res.Grant)
	}
	p := res.Pending
	mount := req.MountPoint
	if mount == "" {
		mount = "<mount>/"
	}
	status := "pending"
	msg := fmt.Sprintf("Password Safe request %d for %s/%s is waiting for approval. Once it is approved, read the credential with: vault read %srequests/%d/creds",
		p.RequestID, p.SystemName, p.AccountName, mount, p.RequestID)
	if p.Submitted {
		status = "submitted"
		msg = fmt.Sprintf("Password Safe request %d for %s/%s was created. Read the credential with: vault read %srequests/%d/creds",
			p.RequestID, p.SystemName, p.AccountName, mount, p.RequestID)
	}
	return &logical.Response{Data: map[string]interface{}{
		"request_id":   p.RequestID,
		"status":       status,
		"role":         p.Role,
		"system_name":  p.SystemName,
		"account_name": p.AccountName,
		"creds_path":   fmt.Sprintf("%srequests/%d/creds", mount, p.RequestID),
		"message":      msg,
	}}
}

// checkoutFields are the per-call settings of a checkout (creds write and
// requests write). prefix starts each description; ttl says what the ttl is.
func checkoutFields(prefix, ttl string) map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"ttl": {
			Type:         framework.TypeDurationSecond,
			Description:  prefix + ttl + " (capped by the role's max TTL); default the role's ttl.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "TTL"},
		},
		"reason": {
			Type:         framework.TypeString,
			Description:  fmt.Sprintf("%sReason recorded with the Password Safe request (at most %d characters; newline and tab allowed, no other control characters); default the role's reason.", prefix, MaxRequestReasonLen),
			DisplayAttrs: &framework.DisplayAttributes{Name: "Reason"},
		},
		"ticket_number": {
			Type:         framework.TypeString,
			Description:  fmt.Sprintf("%sTicket number for the request (at most %d characters, no control characters); default the role's ticket_number.", prefix, MaxTicketNumberLen),
			DisplayAttrs: &framework.DisplayAttributes{Name: "Ticket number"},
		},
	}
}

// checkoutSettings reads and checks the checkoutFields given into in.
func checkoutSettings(d *framework.FieldData, in *backend.CheckoutInput) error {
	if v, ok := d.GetOk("ttl"); ok {
		in.TTL = time.Duration(v.(int)) * time.Second
		if in.TTL < 0 {
			return errors.New("ttl must not be negative")
		}
	}
	if v, ok := d.GetOk("reason"); ok {
		in.Reason = v.(string)
		if err := ValidateReason("reason", in.Reason, MaxRequestReasonLen); err != nil {
			return err
		}
	}
	if v, ok := d.GetOk("ticket_number"); ok {
		in.TicketNumber = strings.TrimSpace(v.(string))
		if err := ValidateTicketNumber("ticket_number", in.TicketNumber); err != nil {
			return err
		}
	}
	return nil
}
