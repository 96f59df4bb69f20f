package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ManagedAccounts is GET ManagedAccounts with filters; a single-object answer
// comes back as a one-element slice. No match is a 404 *Error (IsNotFound),
// as the server answers it.
func (c *Client) ManagedAccounts(ctx context.Context, q ManagedAccountsQuery) ([]ManagedAccount, error) {
	for _, f := range []struct{ name, v string }{
		{"SystemName", q.SystemName}, {"AccountName", q.AccountName},
		{"WorkgroupName", q.WorkgroupName}, {"Type", q.Type},
	} {
		if err := checkName(f.name, f.v, false); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"SystemID", q.SystemID}, {"Limit", q.Limit}, {"Offset", q.Offset}} {
		if f.v < 0 {
			return nil, invalid("%s must not be negative, got %d", f.name, f.v)
		}
	}
	v := url.Values{}
	setIf := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	setInt := func(k string, n int) {
		if n > 0 {
			v.Set(k, strconv.Itoa(n))
		}
	}
	setIf("systemName", q.SystemName)
	setIf("accountName", q.AccountName)
	setInt("systemID", q.SystemID)
	setIf("workgroupName", q.WorkgroupName)
	setIf("type", q.Type)
	setInt("limit", q.Limit)
	setInt("offset", q.Offset)

	res, err := c.do(ctx, &call{
		op: opManagedAccounts, method: http.MethodGet, path: "ManagedAccounts", query: v.Encode(),
		session: true, retry: retryAll,
	})
	defer res.free()
	if err != nil {
		return nil, err
	}
	var out []ManagedAccount
	if err := decodeList(res.bytes(), &out); err != nil {
		return nil, badResponse(opManagedAccounts, res.status, len(res.bytes()))
	}
	return out, nil
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
