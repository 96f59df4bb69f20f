package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ManagedAccounts is GET ManagedAccounts with filters: one page (Limit and
// Offset as given; without Limit, Password Safe's default of 1000). A
// single-object answer comes back as a one-element slice, a {TotalCount,
// Data} answer (what Password Safe sends when limit is given) as its Data.
// No match is a 404 *Error (IsNotFound), as the server answers it. Use
// AllManagedAccounts to read every page.
func (c *Client) ManagedAccounts(ctx context.Context, q ManagedAccountsQuery) ([]ManagedAccount, error) {
	p, err := c.ManagedAccountsPage(ctx, q)
	return p.Items, err
}

// ManagedAccountsPage is ManagedAccounts with the total the server reports.
func (c *Client) ManagedAccountsPage(ctx context.Context, q ManagedAccountsQuery) (Page[ManagedAccount], error) {
	none := Page[ManagedAccount]{TotalCount: -1}
	for _, f := range []struct{ name, v string }{
		{"SystemName", q.SystemName}, {"AccountName", q.AccountName},
		{"WorkgroupName", q.WorkgroupName}, {"Type", q.Type},
	} {
		if err := checkName(f.name, f.v, false); err != nil {
			return none, err
		}
	}
	if q.SystemID < 0 {
		return none, invalid("SystemID must not be negative, got %d", q.SystemID)
	}
	v := url.Values{}
	setIf(v, "systemName", q.SystemName)
	setIf(v, "accountName", q.AccountName)
	setInt(v, "systemID", q.SystemID)
	setIf(v, "workgroupName", q.WorkgroupName)
	setIf(v, "type", q.Type)
	return getPage[ManagedAccount](ctx, c, opManagedAccounts, "ManagedAccounts", v, q.Limit, q.Offset)
}

// AllManagedAccounts reads every page of GET ManagedAccounts from q.Offset
// on, q.Limit accounts a page (0: DefaultPageSize); more than MaxPages
// pages is ErrTooManyPages. No match is an empty list, not an error.
func (c *Client) AllManagedAccounts(ctx context.Context, q ManagedAccountsQuery) ([]ManagedAccount, error) {
	return readAll(ctx, q, c.ManagedAccountsPage)
}

// Managed system entity types (ManagedSystem.EntityTypeID, the type filter
// of GET ManagedSystems).
const (
	EntityAsset     = 1
	EntityDatabase  = 2
	EntityDirectory = 3
	EntityCloud     = 4
)

// ManagedSystems is one page of GET ManagedSystems (Limit and Offset as
// given; without Limit, whatever the server answers). Password Safe needs
// the "Password Safe System Management (Read)" permission for it (else 403).
func (c *Client) ManagedSystems(ctx context.Context, q ManagedSystemsQuery) (Page[ManagedSystem], error) {
	none := Page[ManagedSystem]{TotalCount: -1}
	if err := checkName("Name", q.Name, false); err != nil {
		return none, err
	}
	if q.Type < 0 || q.Type > EntityCloud {
		return none, invalid("Type must be 0 (any) or 1 to 4, got %d", q.Type)
	}
	v := url.Values{}
	setIf(v, "name", q.Name)
	setInt(v, "type", q.Type)
	return getPage[ManagedSystem](ctx, c, opManagedSystems, "ManagedSystems", v, q.Limit, q.Offset)
}

// AllManagedSystems reads every page of GET ManagedSystems from q.Offset
// on, q.Limit systems a page (0: DefaultPageSize); more than MaxPages
// pages is ErrTooManyPages.
func (c *Client) AllManagedSystems(ctx context.Context, q ManagedSystemsQuery) ([]ManagedSystem, error) {
	return readAll(ctx, q, c.ManagedSystems)
}

// ManagedAccount looks up one account by system and account name.
// Not found is a 404 *Error (IsNotFound).
func (c *Client) ManagedAccount(ctx context.Context, systemName, accountName string) (*ManagedAccount, error) {
	if err := checkName("system name", systemName, true); err != nil {
		return nil, err
	}
	if err := checkName("account name", accountName, true); err != nil {
		return nil, err
	}
	list, err := c.ManagedAccounts(ctx, ManagedAccountsQuery{SystemName: systemName, AccountName: accountName})
	if err != nil {
		return nil, err
	}
	// The server answers one object for this query; should it answer a list,
	// take the exact match rather than whatever came first.
	for i := range list {
		if strings.EqualFold(list[i].SystemName, systemName) && strings.EqualFold(list[i].AccountName, accountName) {
			return &list[i], nil
		}
	}
	if len(list) == 1 && list[0].SystemName == "" && list[0].AccountName == "" {
		return &list[0], nil // an answer without names: trust the server's filter
	}
	// Reported like the server's own "not found" so callers test one thing.
	return nil, &Error{Op: opManagedAccounts, StatusCode: http.StatusNotFound, Message: "Managed Account not found"}
}

// Aliases is GET Aliases.
func (c *Client) Aliases(ctx context.Context) ([]Alias, error) {
	res, err := c.do(ctx, &call{
		op: opAliases, method: http.MethodGet, path: "Aliases", session: true, retry: retryAll,
	})
	defer res.free()
	if err != nil {
		return nil, err
	}
	var out []Alias
	if err := decodeList(res.bytes(), &out); err != nil {
		return nil, badResponse(opAliases, res.status, len(res.bytes()))
	}
	return out, nil
}

// Alias is GET Aliases/{id}.
func (c *Client) Alias(ctx context.Context, aliasID int) (*Alias, error) {
	if err := checkID("alias ID", aliasID); err != nil {
		return nil, err
	}
	res, err := c.do(ctx, &call{
		op: opAlias, method: http.MethodGet, path: "Aliases/" + strconv.Itoa(aliasID), session: true, retry: retryAll,
	})
	defer res.free()
	if err != nil {
		return nil, err
	}
	var list []Alias
	if err := decodeList(res.bytes(), &list); err != nil || len(list) != 1 {
		return nil, badResponse(opAlias, res.status, len(res.bytes()))
	}
	return &list[0], nil
}

// AliasByName is GET Aliases?name=.
// Not found is a 404 *Error (IsNotFound).
func (c *Client) AliasByName(ctx context.Context, name string) (*Alias, error) {
	if err := checkName("alias name", name, true); err != nil {
		return nil, err
	}
	res, err := c.do(ctx, &call{
		op: opAliases, method: http.MethodGet, path: "Aliases", query: url.Values{"name": {name}}.Encode(),
		session: true, retry: retryAll,
	})
	defer res.free()
	if err != nil {
		return nil, err
	}
	var list []Alias
	if err := decodeList(res.bytes(), &list); err != nil {
		return nil, badResponse(opAliases, res.status, len(res.bytes()))
	}
	for i := range list {
		if strings.EqualFold(list[i].AliasName, name) {
			return &list[i], nil
		}
	}
	return nil, &Error{Op: opAliases, StatusCode: http.StatusNotFound, Message: "Alias not found"}
}
