package paths

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// MaxApprovalWait caps approval_wait (Vault cuts requests at its
// max_request_duration, 90s by default, anyway).
const MaxApprovalWait = 10 * time.Minute

const rolesHelpSynopsis = "Manage roles: what to check out of Password Safe, and how."

const rolesHelpDescription = `
A role names exactly one Password Safe target and how to request it:

  - system_name + account_name, or system_id + account_id: a managed account;
  - alias_name or alias_id: a managed account alias.

Names are resolved to IDs when the role is written (a target Password Safe
does not know is refused), and the account's maximum release duration is
kept: max_ttl may not exceed it.

Reading creds/<role> then creates a Password Safe request with the role's
access_type, reason, ticket and conflict settings for a duration that covers
the lease's max TTL, and returns the credential types the role asks for.

conflict_option says what to do when the run-as user already holds an open
request for the account: none (fail with HTTP 409), reuse (share it; the
request is checked in when its last lease ends; a request about to expire is
replaced so Vault Agent gets a full-length credential), renew (replace it).

Example:

    vault write passwordsafe/roles/db system_name=db-prod-01 account_name=postgres \
        ttl=1h max_ttl=8h conflict_option=reuse
`

// rolePaths is the roles path family: roles/ (list) and roles/:name (CRUD).
func rolePaths(engine *backend.Engine) []*framework.Path {
	h := &roleHandler{engine: engine}
	return []*framework.Path{
		{
			Pattern: "roles/?$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: OperationPrefix,
				OperationSuffix: "roles",
				Navigation:      true,
				ItemType:        "Role",
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{
					Callback:     h.list,
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "list"},
					Summary:      "List the roles.",
				},
			},
			HelpSynopsis:    "List the roles.",
			HelpDescription: "Lists the names of the roles of this mount.",
		},
		{
			Pattern: "roles/" + framework.GenericNameRegex("name"),
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: OperationPrefix,
				OperationSuffix: "role",
				ItemType:        "Role",
				Action:          "Create",
			},
			Fields: mergeFields(roleFields(), RunAsFields(true)),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback:     h.read,
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read"},
					Summary:      "Read a role.",
				},
				logical.CreateOperation: &framework.PathOperation{
					Callback:                    h.write,
					DisplayAttrs:                &framework.DisplayAttributes{OperationVerb: "write"},
					Summary:                     "Create a role; its target is resolved in Password Safe.",
					ForwardPerformanceStandby:   true,
					ForwardPerformanceSecondary: true,
				},
				logical.UpdateOperation: &framework.PathOperation{
					Callback:                    h.write,
					DisplayAttrs:                &framework.DisplayAttributes{OperationVerb: "write"},
					Summary:                     "Update a role; fields not given keep their value.",
					ForwardPerformanceStandby:   true,
					ForwardPerformanceSecondary: true,
				},
				logical.DeleteOperation: &framework.PathOperation{
					Callback:                    h.delete,
					DisplayAttrs:                &framework.DisplayAttributes{OperationVerb: "delete"},
					Summary:                     "Delete a role. Its live leases keep working until they end.",
					ForwardPerformanceStandby:   true,
					ForwardPerformanceSecondary: true,
				},
			},
			ExistenceCheck:  h.exists,
			HelpSynopsis:    rolesHelpSynopsis,
			HelpDescription: strings.TrimSpace(rolesHelpDescription),
		},
	}
}

func roleFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"name": {
			Type:         framework.TypeLowerCaseString,
			Description:  "Name of the role.",
			Required:     true,
			DisplayAttrs: &framework.DisplayAttributes{Name: "Role name"},
		},
		"system_name": {
			Type:         framework.TypeString,
			Description:  "Managed system name (with account_name).",
			DisplayAttrs: &framework.DisplayAttributes{Name: "System name", Group: "Target"},
		},
		"account_name": {
			Type:         framework.TypeString,
			Description:  "Managed account name (with system_name).",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Account name", Group: "Target"},
		},
		"system_id": {
			Type:         framework.TypeInt,
			Description:  "Managed system ID (with account_id).",
			DisplayAttrs: &framework.DisplayAttributes{Name: "System ID", Group: "Target"},
		},
		"account_id": {
			Type:         framework.TypeInt,
			Description:  "Managed account ID (with system_id).",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Account ID", Group: "Target"},
		},
		"alias_name": {
			Type:         framework.TypeString,
			Description:  "Managed account alias name (instead of a system and account).",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Alias name", Group: "Target"},
		},
		"alias_id": {
			Type:         framework.TypeInt,
			Description:  "Managed account alias ID (instead of a system and account).",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Alias ID", Group: "Target"},
		},
		"access_type": {
			Type:          framework.TypeString,
			Default:       string(client.AccessView),
			Description:   "Access type of the request: View, RDP, SSH or App (App needs application_id).",
			AllowedValues: []interface{}{"View", "RDP", "SSH", "App"},
			DisplayAttrs:  &framework.DisplayAttributes{Name: "Access type", Group: "Request"},
		},
		"application_id": {
			Type:         framework.TypeInt,
			Description:  "Application ID, required with access_type=App.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Application ID", Group: "Request"},
		},
		"credential_types": {
			Type:         framework.TypeCommaStringSlice,
			Default:      []string{string(client.CredentialPassword)},
			Description:  "Credentials to return: any of password, dsskey (returned as private_key), passphrase.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Credential types", Group: "Request"},
		},
		"ttl": {
			Type:         framework.TypeDurationSecond,
			Description:  "Lease TTL; 0 uses the mount's default. At most max_ttl.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "TTL", Group: "Lease"},
		},
		"max_ttl": {
			Type: framework.TypeDurationSecond,
			Description: "Lease max TTL; 0 uses the mount's max. The Password Safe request lasts this long " +
				"(rounded up to minutes), so it may not exceed the account's maximum release duration.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Max TTL", Group: "Lease"},
		},
		"reason": {
			Type:         framework.TypeString,
			Description:  fmt.Sprintf("Reason recorded with each request (at most %d characters; newline and tab allowed, no other control characters); creds writes may override it.", MaxRequestReasonLen),
			DisplayAttrs: &framework.DisplayAttributes{Name: "Reason", Group: "Request"},
		},
		"ticket_system_id": {
			Type:         framework.TypeInt,
			Description:  "Ticket system ID; 0 uses Password Safe's default ticket system.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Ticket system ID", Group: "Request"},
		},
		"ticket_number": {
			Type:         framework.TypeString,
			Description:  fmt.Sprintf("Ticket number (at most %d characters, no control characters), for policies that require one; creds writes may override it.", MaxTicketNumberLen),
			DisplayAttrs: &framework.DisplayAttributes{Name: "Ticket number", Group: "Request"},
		},
		"access_policy_schedule_id": {
			Type:         framework.TypeInt,
			Description:  "Access policy schedule ID; 0 lets Password Safe pick the best schedule.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Access policy schedule ID", Group: "Request"},
		},
		"conflict_option": {
			Type:    framework.TypeString,
			Default: backend.ConflictNone,
			Description: "When the run-as user already has an open request for the account: none (HTTP 409), " +
				"reuse (share it; checked in when its last lease ends), renew (replace it).",
			AllowedValues: []interface{}{backend.ConflictNone, backend.ConflictReuse, backend.ConflictRenew},
			DisplayAttrs:  &framework.DisplayAttributes{Name: "Conflict option", Group: "Request"},
		},
		"rotate_on_checkin": {
			Type:         framework.TypeBool,
			Default:      true,
			Description:  "Rotate the credential when the request is checked in or expires (if the access policy allows the override).",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Rotate on check-in", Group: "Request"},
		},
		"approval_wait": {
			Type: framework.TypeDurationSecond,
			Description: "How long a creds read waits for an approver before answering with the pending request's ID " +
				"(at most 10m; Vault's max_request_duration also bounds it).",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Approval wait", Group: "Request"},
		},
	}
}

type roleHandler struct{ engine *backend.Engine }

func (h *roleHandler) exists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	r, err := h.engine.Role(ctx, req.Storage, d.Get("name").(string))
	return r != nil, err
}

func (h *roleHandler) list(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	keys, err := req.Storage.List(ctx, backend.RolePrefix)
	if err != nil {
		return nil, err
	}
	sort.Strings(keys)
	return logical.ListResponse(keys), nil
}

func (h *roleHandler) delete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return nil, h.engine.DeleteRole(ctx, req.Storage, d.Get("name").(string))
}

func (h *roleHandler) read(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	r, err := h.engine.Role(ctx, req.Storage, d.Get("name").(string))
	if err != nil || r == nil {
		return nil, err
	}
	return &logical.Response{Data: roleData(r)}, nil
}

func roleData(r *backend.Role) map[string]interface{} {
	return map[string]interface{}{
		"name":                      r.Name,
		"target":                    r.Target,
		"system_id":                 r.SystemID,
		"system_name":               r.SystemName,
		"account_id":                r.AccountID,
		"account_name":              r.AccountName,
		"domain_name":               r.DomainName,
		"alias_id":                  r.AliasID,
		"alias_name":                r.AliasName,
		"account_max_minutes":       r.AccountMaxMinutes,
		"access_type":               r.AccessType,
		"application_id":            r.ApplicationID,
		"credential_types":          r.CredentialTypes,
		"ttl":                       int64(r.TTL / time.Second),
		"max_ttl":                   int64(r.MaxTTL / time.Second),
		"reason":                    r.Reason,
		"ticket_system_id":          r.TicketSystemID,
		"ticket_number":             r.TicketNumber,
		"access_policy_schedule_id": r.AccessPolicyScheduleID,
		"conflict_option":           r.ConflictOption,
		"rotate_on_checkin":         r.RotateOnCheckin,
		"approval_wait":             int64(r.ApprovalWait / time.Second),
		"run_as":                    r.RunAs,
		"run_as_source":             r.RunAsSource,
		"run_as_mount_accessor":     r.RunAsMountAccessor,
		"run_as_metadata_key":       r.RunAsMetadataKey,
	}
}

func (h *roleHandler) write(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	existing, err := h.engine.Role(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	r := backend.Role{
		Name:            name,
		AccessType:      string(client.AccessView),
		CredentialTypes: []string{string(client.CredentialPassword)},
		ConflictOption:  backend.ConflictNone,
		RotateOnCheckin: true,
	}
	if existing != nil {
		r = *existing
	}

	tgt, targetGiven, err := parseTarget(d)
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	if existing == nil && !targetGiven {
		return logical.ErrorResponse("a role needs one target: system_name and account_name, system_id and account_id, alias_name, or alias_id"), nil
	}
	if err := applyRoleFields(&r, d); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	if targetGiven && tgt.Target == backend.TargetAlias && r.AccessType == string(client.AccessApp) {
		return logical.ErrorResponse("access_type=App cannot be requested through an alias; name the system and account instead"), nil
	}
	if !targetGiven && r.Target == backend.TargetAlias && r.AccessType == string(client.AccessApp) {
		return logical.ErrorResponse("access_type=App cannot be requested through an alias; name the system and account instead"), nil
	}
	if err := validateRole(&r); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}

	if targetGiven {
		if err := h.resolve(ctx, req, &r, tgt); err != nil {
			var coded logical.HTTPCodedError
			if errors.As(err, &coded) {
				return nil, err
			}
			return logical.ErrorResponse(err.Error()), nil
		}
	}
	if r.AccountMaxMinutes > 0 && r.MaxTTL > time.Duration(r.AccountMaxMinutes)*time.Minute {
		return logical.ErrorResponse("max_ttl %s is above the account's maximum release duration of %d minutes in Password Safe",
			r.MaxTTL, r.AccountMaxMinutes), nil
	}
	if err := h.engine.SaveRole(ctx, req.Storage, &r); err != nil {
		return nil, err
	}
	return nil, nil
}

// applyRoleFields copies the non-target fields given in d onto r.
func applyRoleFields(r *backend.Role, d *framework.FieldData) error {
	if v, ok := d.GetOk("access_type"); ok {
		r.AccessType = normalizeAccessType(v.(string))
	}
	if v, ok := d.GetOk("application_id"); ok {
		r.ApplicationID = v.(int)
	}
	if v, ok := d.GetOk("credential_types"); ok {
		r.CredentialTypes = v.([]string)
	}
	if v, ok := d.GetOk("ttl"); ok {
		r.TTL = time.Duration(v.(int)) * time.Second
	}
	if v, ok := d.GetOk("max_ttl"); ok {
		r.MaxTTL = time.Duration(v.(int)) * time.Second
	}
	if v, ok := d.GetOk("reason"); ok {
		r.Reason = v.(string)
	}
	if v, ok := d.GetOk("ticket_system_id"); ok {
		r.TicketSystemID = v.(int)
	}
	if v, ok := d.GetOk("ticket_number"); ok {
		r.TicketNumber = strings.TrimSpace(v.(string))
	}
	if v, ok := d.GetOk("access_policy_schedule_id"); ok {
		r.AccessPolicyScheduleID = v.(int)
	}
	if v, ok := d.GetOk("conflict_option"); ok {
		r.ConflictOption = strings.ToLower(strings.TrimSpace(v.(string)))
		if r.ConflictOption == "" {
			r.ConflictOption = backend.ConflictNone
		}
	}
	if v, ok := d.GetOk("rotate_on_checkin"); ok {
		r.RotateOnCheckin = v.(bool)
	}
	if v, ok := d.GetOk("approval_wait"); ok {
		r.ApprovalWait = time.Duration(v.(int)) * time.Second
	}
	for field, dst := range map[string]*string{
		"run_as": &r.RunAs, "run_as_source": &r.RunAsSource,
		"run_as_mount_accessor": &r.RunAsMountAccessor, "run_as_metadata_key": &r.RunAsMetadataKey,
	} {
		if v, ok := d.GetOk(field); ok {
			*dst = strings.TrimSpace(v.(string))
		}
	}
	return nil
}

func normalizeAccessType(v string) string {
	for _, t := range []client.AccessType{client.AccessView, client.AccessRDP, client.AccessSSH, client.AccessApp} {
		if strings.EqualFold(v, string(t)) {
			return string(t)
		}
	}
	return v
}

// validateRole checks everything that needs no upstream call.
func validateRole(r *backend.Role) error {
	switch client.AccessType(r.AccessType) {
	case client.AccessView, client.AccessRDP, client.AccessSSH:
		if r.ApplicationID != 0 {
			return errors.New("application_id applies to access_type=App only")
		}
	case client.AccessApp:
		if r.ApplicationID == 0 {
			return fmt.Errorf("access_type=App needs application_id (a positive integer, at most %d)", MaxID)
		}
		if err := ValidateID("application_id", r.ApplicationID); err != nil {
			return err
		}
	default:
		return fmt.Errorf("access_type must be View, RDP, SSH or App (got %q)", r.AccessType)
	}
	if len(r.CredentialTypes) == 0 {
		return errors.New("credential_types must name at least one of password, dsskey, passphrase")
	}
	seen := map[string]bool{}
	var types []string
	for _, t := range r.CredentialTypes {
		t = strings.ToLower(strings.TrimSpace(t))
		switch client.CredentialType(t) {
		case client.CredentialPassword, client.CredentialDSSKey, client.CredentialPassphrase:
		default:
			return fmt.Errorf("credential_types may hold only password, dsskey and passphrase (got %q)", t)
		}
		if !seen[t] {
			seen[t] = true
			types = append(types, t)
		}
	}
	r.CredentialTypes = types
	if r.TTL < 0 || r.MaxTTL < 0 {
		return errors.New("ttl and max_ttl must not be negative")
	}
	if r.MaxTTL > 0 && r.TTL > r.MaxTTL {
		return fmt.Errorf("ttl (%s) must not be above max_ttl (%s)", r.TTL, r.MaxTTL)
	}
	if r.MaxTTL > backend.MaxDurationMinutes*time.Minute {
		return fmt.Errorf("max_ttl must not be above %d minutes, the longest Password Safe request", backend.MaxDurationMinutes)
	}
	if err := ValidateReason("reason", r.Reason, MaxRequestReasonLen); err != nil {
		return err
	}
	if err := ValidateTicketNumber("ticket_number", r.TicketNumber); err != nil {
		return err
	}
	if err := ValidateOptionalID("ticket_system_id", r.TicketSystemID); err != nil {
		return err
	}
	if err := ValidateOptionalID("access_policy_schedule_id", r.AccessPolicyScheduleID); err != nil {
		return err
	}
	switch r.ConflictOption {
	case backend.ConflictNone, backend.ConflictReuse, backend.ConflictRenew:
	default:
		return fmt.Errorf("conflict_option must be none, reuse or renew (got %q)", r.ConflictOption)
	}
	if r.ApprovalWait < 0 || r.ApprovalWait > MaxApprovalWait {
		return fmt.Errorf("approval_wait must be between 0 and %s", MaxApprovalWait)
	}
	if r.RunAs != "" {
		if err := backend.ValidateUserName("run_as", r.RunAs); err != nil {
			return err
		}
	}
	return ValidateRunAsSettings(r.RunAsSource, r.RunAsMountAccessor, r.RunAsMetadataKey)
}

func setAccount(r *backend.Role, a *client.ManagedAccount) {
	r.SystemID, r.SystemName = a.SystemID, a.SystemName
	r.AccountID, r.AccountName, r.DomainName = a.AccountID, a.AccountName, a.DomainName
	r.AccountMaxMinutes = a.MaximumReleaseDuration
}

// aliasRequestable: only aliases mapped in state 1 or 2 can be requested.
func aliasRequestable(a *client.Alias) bool {
	if len(a.MappedAccounts) == 0 {
		return true
	}
	for _, m := range a.MappedAccounts {
		if m.Status == 1 || m.Status == 2 {
			return true
		}
	}
	return false
}
