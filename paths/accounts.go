package paths

import (
	"context"
	"fmt"
	"strconv"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

const accountsHelpSynopsis = "Discover Password Safe managed accounts (what to put in a role)."

const accountsHelpDescription = `
Lists the managed accounts the run-as user can see (only accounts with API
access enabled), so operators can find what to put in a role. Keys are
"<system_name>/<account_name>"; key_info gives the IDs, the domain, the
application (for access_type=App) and the maximum release duration in
minutes (a role's max_ttl must fit it).

Filters: system_name, account_name, system_id, type, workgroup_name. Without
limit and offset the list is complete: the engine reads every page
(1000 accounts a page, as many pages as Password Safe has). With limit (at
most 1000) or offset it is the one page asked for, and total_count is how
many accounts match in all. LIST takes them as query parameters
(GET ...?list=true&system_name=...); with the CLI use read:

    vault list passwordsafe/accounts
    vault read passwordsafe/accounts system_name=db-prod-01
    vault write passwordsafe/roles/db system_name=db-prod-01 account_name=postgres

Calls act as the caller's run-as user (see requests/); when the caller's
identity names no user and config has run_as, the config's run_as user is
used (as role writes do), with a warning.
`

// accountPaths is the accounts path family.
func accountPaths(engine *backend.Engine) []*framework.Path {
	h := &accountsHandler{engine: engine}
	str := func(desc, name string) *framework.FieldSchema { return queryField(framework.TypeString, desc, name) }
	return []*framework.Path{discoveryPath("accounts", "Managed account", map[string]*framework.FieldSchema{
		"system_name":    str("Only accounts of this managed system.", "System name"),
		"account_name":   str("Only accounts of this name.", "Account name"),
		"system_id":      queryField(framework.TypeInt, "Only accounts of this managed system ID.", "System ID"),
		"type":           str("Only accounts of this type (e.g. system, domainlinked, database, cloud, application).", "Account type"),
		"workgroup_name": str("Only accounts of systems in this workgroup.", "Workgroup name"),
	}, h.list, "List the managed accounts the run-as user can see", accountsHelpSynopsis, accountsHelpDescription)}
}

type accountsHandler struct{ engine *backend.Engine }

// accountsQuery reads and checks the filters before anything is sent.
func accountsQuery(d *framework.FieldData) (client.ManagedAccountsQuery, error) {
	var q client.ManagedAccountsQuery
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"system_name", &q.SystemName}, {"account_name", &q.AccountName},
		{"type", &q.Type}, {"workgroup_name", &q.WorkgroupName},
	} {
		v, ok := d.GetOk(f.name)
		if !ok {
			continue
		}
		s := v.(string)
		if s == "" {
			continue
		}
		if err := ValidateName(f.name, s); err != nil {
			return q, err
		}
		*f.dst = s
	}
	// 0 means "not given" for system_id and limit, as in Password Safe.
	if v, ok := d.GetOk("system_id"); ok {
		q.SystemID = v.(int)
		if err := ValidateOptionalID("system_id", q.SystemID); err != nil {
			return q, err
		}
	}
	var err error
	q.Limit, q.Offset, err = pagingArgs(d)
	return q, err
}

func accountData(a *client.ManagedAccount) map[string]interface{} {
	m := map[string]interface{}{
		"system_id":                a.SystemID,
		"system_name":              a.SystemName,
		"account_id":               a.AccountID,
		"account_name":             a.AccountName,
		"domain_name":              a.DomainName,
		"platform_id":              a.PlatformID,
		"instance_name":            a.InstanceName,
		"user_principal_name":      a.UserPrincipalName,
		"application_id":           nil,
		"application_name":         a.ApplicationDisplayName,
		"default_release_duration": a.DefaultReleaseDuration,
		"maximum_release_duration": a.MaximumReleaseDuration,
		"last_change_date":         timeOrNil(a.LastChangeDate),
		"next_change_date":         timeOrNil(a.NextChangeDate),
		"is_changing":              a.IsChanging,
		"is_isa_access":            a.IsISAAccess,
		"description":              a.AccountDescription,
	}
	if a.ApplicationID != nil {
		m["application_id"] = *a.ApplicationID
	}
	return m
}

func (h *accountsHandler) list(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	q, err := accountsQuery(d)
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	cl, runAs, warnings, err := callerSession(ctx, h.engine, req, true)
	if err != nil {
		return nil, err
	}
	list, total, err := pageOf(ctx, q, q.Limit, q.Offset, cl.AllManagedAccounts, cl.ManagedAccountsPage)
	if err != nil && !client.IsNotFound(err) { // 404: nothing matches
		return nil, UpstreamError(fmt.Sprintf("list the managed accounts run-as user %q can see", runAs), err)
	}
	l := newKeyedList(len(list))
	for i := range list {
		// Names are unique in Password Safe; should two accounts share
		// them anyway, both are listed, told apart by account ID.
		a := &list[i]
		l.add(a.SystemName+"/"+a.AccountName, strconv.Itoa(a.AccountID), accountData(a))
	}
	return l.response(total, warnings), nil
}
