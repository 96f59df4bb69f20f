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

var targetFields = []string{"system_name", "account_name", "system_id", "account_id", "alias_name", "alias_id"}

// parseTarget reads the target fields given in d: exactly one complete
// target, or none (keep the existing one).
func parseTarget(d *framework.FieldData) (backend.Role, bool, error) {
	var t backend.Role
	given := map[string]bool{}
	for _, f := range targetFields {
		if _, ok := d.Raw[f]; ok {
			given[f] = true
		}
	}
	if len(given) == 0 {
		return t, false, nil
	}
	kinds := 0
	byName := given["system_name"] || given["account_name"]
	byID := given["system_id"] || given["account_id"]
	if byName {
		kinds++
	}
	if byID {
		kinds++
	}
	if given["alias_name"] {
		kinds++
	}
	if given["alias_id"] {
		kinds++
	}
	const one = "give exactly one target: system_name and account_name, system_id and account_id, alias_name, or alias_id"
	if kinds != 1 {
		return t, true, errors.New(one)
	}
	switch {
	case byName:
		t.Target = backend.TargetAccount
		t.SystemName = strings.TrimSpace(d.Get("system_name").(string))
		t.AccountName = strings.TrimSpace(d.Get("account_name").(string))
		if t.SystemName == "" || t.AccountName == "" {
			return t, true, errors.New("system_name and account_name go together: " + one)
		}
		if err := ValidateName("system_name", t.SystemName); err != nil {
			return t, true, err
		}
		if err := ValidateName("account_name", t.AccountName); err != nil {
			return t, true, err
		}
	case byID:
		t.Target = backend.TargetAccount
		t.SystemID, t.AccountID = d.Get("system_id").(int), d.Get("account_id").(int)
		if !given["system_id"] || !given["account_id"] {
			return t, true, errors.New("system_id and account_id go together: " + one)
		}
		if err := ValidateID("system_id", t.SystemID); err != nil {
			return t, true, err
		}
		if err := ValidateID("account_id", t.AccountID); err != nil {
			return t, true, err
		}
	case given["alias_name"]:
		t.Target = backend.TargetAlias
		t.AliasName = strings.TrimSpace(d.Get("alias_name").(string))
		if err := ValidateName("alias_name", t.AliasName); err != nil {
			return t, true, err
		}
	default:
		t.Target = backend.TargetAlias
		t.AliasID = d.Get("alias_id").(int)
		if err := ValidateID("alias_id", t.AliasID); err != nil {
			return t, true, err
		}
	}
	return t, true, nil
}

// resolve looks the target up in Password Safe and fills in IDs, names and
// the account's maximum release duration. Not found is a 400 that says so.
func (h *roleHandler) resolve(ctx context.Context, req *logical.Request, r *backend.Role, t backend.Role) error {
	cfg, err := h.engine.Config(ctx, req.Storage)
	if err != nil {
		return err
	}
	if cfg == nil {
		return errors.New("write config before roles: the role's target is looked up in Password Safe")
	}
	runAs, err := h.engine.ResolveRunAs(ctx, req, cfg, r)
	if err != nil {
		err = hinted(req, err)
		// Only a missing identity (403) may fall back to the config's user: a
		// settings error (400, e.g. an identity source with a config password)
		// would fail every later checkout, so it is refused now.
		// A caller whose identity names a refused user gets the 403 too.
		var coded logical.HTTPCodedError
		if cfg.RunAs == "" || backend.IsRunAsRefused(err) || !errors.As(err, &coded) || coded.Code() != http.StatusForbidden {
			return err
		}
		runAs = cfg.RunAs // e.g. an operator without an entity writing an identity-based role
	}
	cl, err := h.engine.Client(ctx, req.Storage, runAs)
	if err != nil {
		return UpstreamError("connect to Password Safe", err)
	}
	notFound := func(what string) error {
		return fmt.Errorf("not found in Password Safe (HTTP 404): no %s that run-as user %q can request; check the name or ID with the accounts and aliases Password Safe lists", what, runAs)
	}
	r.SystemID, r.AccountID, r.AliasID = 0, 0, 0
	r.SystemName, r.AccountName, r.AliasName, r.DomainName = "", "", "", ""
	r.Target = t.Target
	switch {
	case t.SystemName != "":
		a, err := cl.ManagedAccount(ctx, t.SystemName, t.AccountName)
		if client.IsNotFound(err) {
			return notFound(fmt.Sprintf("managed account %q on system %q", t.AccountName, t.SystemName))
		}
		if err != nil {
			return UpstreamError("look up the managed account", err)
		}
		setAccount(r, a)
	case t.SystemID != 0:
		as, err := cl.ManagedAccounts(ctx, client.ManagedAccountsQuery{SystemID: t.SystemID})
		if err != nil && !client.IsNotFound(err) {
			return UpstreamError("look up the managed account", err)
		}
		var found *client.ManagedAccount
		for i := range as {
			if as[i].AccountID == t.AccountID && as[i].SystemID == t.SystemID {
				found = &as[i]
				break
			}
		}
		if found == nil {
			return notFound(fmt.Sprintf("managed account %d on system %d", t.AccountID, t.SystemID))
		}
		setAccount(r, found)
	default:
		var a *client.Alias
		if t.AliasName != "" {
			a, err = cl.AliasByName(ctx, t.AliasName)
		} else {
			a, err = cl.Alias(ctx, t.AliasID)
		}
		what := fmt.Sprintf("alias %q", t.AliasName)
		if t.AliasName == "" {
			what = fmt.Sprintf("alias %d", t.AliasID)
		}
		if client.IsNotFound(err) {
			return notFound(what)
		}
		if err != nil {
			return UpstreamError("look up the alias", err)
		}
		if !aliasRequestable(a) {
			return fmt.Errorf("%s is not mapped to an account that can be requested (mapped state must be 1 or 2)", what)
		}
		r.AliasID, r.AliasName = a.AliasID, a.AliasName
		r.SystemID, r.SystemName = a.SystemID, a.SystemName
		r.AccountID, r.AccountName, r.DomainName = a.AccountID, a.AccountName, a.DomainName
		r.AccountMaxMinutes = a.MaximumReleaseDuration
	}
	if r.SystemID == 0 || r.AccountID == 0 {
		return logical.CodedError(http.StatusBadGateway, "Password Safe answered the lookup without system and account IDs")
	}
	return nil
}
