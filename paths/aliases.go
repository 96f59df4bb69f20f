package paths

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

const aliasesHelpSynopsis = "Discover Password Safe aliases (for roles with alias_name)."

const aliasesHelpDescription = `
Aliases are Password Safe's stable names for a managed account (the account
behind an alias may change). LIST aliases/ shows the aliases the run-as user
can see, with the account each is mapped to; READ aliases/<name> shows one.
A role targets an alias with alias_name=<name>; only aliases whose mapped
state is 1 or 2 can be requested ("requestable").

Calls act as the caller's run-as user (see requests/), so the list is what
that user may request or approve. When the caller's identity names no user
and config has run_as, the config's run_as user is used (as role writes do),
with a warning.

Alias names containing "/" cannot be read through this path; LIST shows
them, and a role can name them by alias_id.

Examples:

    vault list passwordsafe/aliases
    vault read passwordsafe/aliases/prod-db-admin
    vault write passwordsafe/roles/db alias_name=prod-db-admin
`

// aliasPaths is the aliases path family.
func aliasPaths(engine *backend.Engine) []*framework.Path {
	h := &aliasesHandler{engine: engine}
	return []*framework.Path{
		{
			Pattern: "aliases/?$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: OperationPrefix,
				OperationSuffix: "aliases",
				Navigation:      true,
				ItemType:        "Alias",
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{
					Callback:     h.list,
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "list"},
					Summary:      "List the Password Safe aliases the run-as user can see.",
				},
			},
			HelpSynopsis:    aliasesHelpSynopsis,
			HelpDescription: strings.TrimSpace(aliasesHelpDescription),
		},
		{
			// Anything but "/" so real alias names (spaces, dots, non-ASCII)
			// reach the handler, which refuses control characters and the
			// "." and ".." path segments with a 400.
			Pattern: "aliases/(?P<name>[^/]+)$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: OperationPrefix,
				OperationSuffix: "alias",
				ItemType:        "Alias",
			},
			Fields: map[string]*framework.FieldSchema{
				"name": {
					Type:         framework.TypeString,
					Description:  "Alias name (matched case-insensitively by Password Safe).",
					Required:     true,
					DisplayAttrs: &framework.DisplayAttributes{Name: "Alias name"},
				},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback:     h.read,
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read"},
					Summary:      "Read one Password Safe alias by name.",
				},
			},
			HelpSynopsis:    aliasesHelpSynopsis,
			HelpDescription: strings.TrimSpace(aliasesHelpDescription),
		},
	}
}

type aliasesHandler struct{ engine *backend.Engine }

// aliasData is the Vault view of an alias.
func aliasData(a *client.Alias) map[string]interface{} {
	mapped := make([]map[string]interface{}, 0, len(a.MappedAccounts))
	for _, m := range a.MappedAccounts {
		mapped = append(mapped, map[string]interface{}{
			"managed_system_id":  m.ManagedSystemID,
			"managed_account_id": m.ManagedAccountID,
			"status":             m.Status,
		})
	}
	return map[string]interface{}{
		"alias_id":                 a.AliasID,
		"alias_name":               a.AliasName,
		"system_id":                a.SystemID,
		"system_name":              a.SystemName,
		"account_id":               a.AccountID,
		"account_name":             a.AccountName,
		"domain_name":              a.DomainName,
		"instance_name":            a.InstanceName,
		"default_release_duration": a.DefaultReleaseDuration,
		"maximum_release_duration": a.MaximumReleaseDuration,
		"last_change_date":         timeOrNil(a.LastChangeDate),
		"next_change_date":         timeOrNil(a.NextChangeDate),
		"is_changing":              a.IsChanging,
		"change_state":             a.ChangeState,
		"mapped_accounts":          mapped,
		"requestable":              aliasRequestable(a),
	}
}

func (h *aliasesHandler) list(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	cl, runAs, warnings, err := callerSession(ctx, h.engine, req, true)
	if err != nil {
		return nil, err
	}
	list, err := cl.Aliases(ctx)
	if err != nil && !client.IsNotFound(err) {
		return nil, UpstreamError(fmt.Sprintf("list the Password Safe aliases of run-as user %q", runAs), err)
	}
	keys := make([]string, 0, len(list))
	info := make(map[string]interface{}, len(list))
	for i := range list {
		k := list[i].AliasName
		if _, dup := info[k]; dup || k == "" {
			continue
		}
		keys = append(keys, k)
		info[k] = aliasData(&list[i])
	}
	resp := logical.ListResponseWithInfo(keys, info)
	for _, w := range warnings {
		resp.AddWarning(w)
	}
	return resp, nil
}

func (h *aliasesHandler) read(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if err := ValidateName("alias name", name); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	cl, runAs, warnings, err := callerSession(ctx, h.engine, req, true)
	if err != nil {
		return nil, err
	}
	a, err := cl.AliasByName(ctx, name)
	if client.IsNotFound(err) {
		return nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf(
			"Password Safe has no alias named %q that run-as user %q can see", capText(name), runAs))
	}
	if err != nil {
		return nil, UpstreamError("look up the Password Safe alias", err)
	}
	resp := &logical.Response{Data: aliasData(a)}
	for _, w := range warnings {
		resp.AddWarning(w)
	}
	return resp, nil
}
