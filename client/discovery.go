package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// DefaultPageSize is the page the All* calls ask for when the query sets
// no Limit (Password Safe's own default page of ManagedAccounts).
const DefaultPageSize = 1000

// MaxPages bounds how many pages an All* call reads, so a server that never
// stops answering full pages cannot keep a caller forever.
const MaxPages = 1000

// Page is one page of a list: its items, and the number of items the whole
// list has as the server reports it (-1 when the server answered a bare
// array, which carries no total).
type Page[T any] struct {
	Items      []T
	TotalCount int
}

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
	if err := checkPaging(q.SystemID, q.Limit, q.Offset); err != nil {
		return none, err
	}
	v := url.Values{}
	setIf(v, "systemName", q.SystemName)
	setIf(v, "accountName", q.AccountName)
	setInt(v, "systemID", q.SystemID)
	setIf(v, "workgroupName", q.WorkgroupName)
	setIf(v, "type", q.Type)
	setInt(v, "limit", q.Limit)
	setInt(v, "offset", q.Offset)
	return getPage[ManagedAccount](ctx, c, opManagedAccounts, "ManagedAccounts", v)
}

// AllManagedAccounts reads every page of GET ManagedAccounts from q.Offset
// on, q.Limit accounts a page (0: DefaultPageSize), at most MaxPages pages.
// No match is an empty list, not an error.
func (c *Client) AllManagedAccounts(ctx context.Context, q ManagedAccountsQuery) ([]ManagedAccount, error) {
	return readAll(ctx, q.Limit, q.Offset, func(limit, offset int) (Page[ManagedAccount], error) {
		q.Limit, q.Offset = limit, offset
		return c.ManagedAccountsPage(ctx, q)
	})
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
	if err := checkPaging(0, q.Limit, q.Offset); err != nil {
		return none, err
	}
	v := url.Values{}
	setIf(v, "name", q.Name)
	setInt(v, "type", q.Type)
	setInt(v, "limit", q.Limit)
	setInt(v, "offset", q.Offset)
	return getPage[ManagedSystem](ctx, c, opManagedSystems, "ManagedSystems", v)
}

// AllManagedSystems reads every page of GET ManagedSystems from q.Offset
// on, q.Limit systems a page (0: DefaultPageSize), at most MaxPages pages.
func (c *Client) AllManagedSystems(ctx context.Context, q ManagedSystemsQuery) ([]ManagedSystem, error) {
	return readAll(ctx, q.Limit, q.Offset, func(limit, offset int) (Page[ManagedSystem], error) {
		q.Limit, q.Offset = limit, offset
		return c.ManagedSystems(ctx, q)
	})
}

func checkPaging(systemID, limit, offset int) error {
	for _, f := range []struct {
		name string
		v    int
	}{{"SystemID", systemID}, {"Limit", limit}, {"Offset", offset}} {
		if f.v < 0 {
			return invalid("%s must not be negative, got %d", f.name, f.v)
		}
	}
	return nil
}

func setIf(v url.Values, k, s string) {
	if s != "" {
		v.Set(k, s)
	}
}

func setInt(v url.Values, k string, n int) {
	if n > 0 {
		v.Set(k, strconv.Itoa(n))
	}
}

// getPage is one GET of a list that may answer a bare array, one object,
// or {TotalCount, Data}.
func getPage[T any](ctx context.Context, c *Client, op, path string, v url.Values) (Page[T], error) {
	res, err := c.do(ctx, &call{
		op: op, method: http.MethodGet, path: path, query: v.Encode(), session: true, retry: retryAll,
	})
	defer res.free()
	if err != nil {
		return Page[T]{TotalCount: -1}, err
	}
	p, err := decodePage[T](res.bytes())
	if err != nil {
		return Page[T]{TotalCount: -1}, badResponse(op, res.status, len(res.bytes()))
	}
	return p, nil
}

// readAll calls page for consecutive pages until one comes back short or
// empty, or the reported total is reached. A 404 (nothing matches) is an
// empty list.
func readAll[T any](ctx context.Context, size, offset int, page func(limit, offset int) (Page[T], error)) ([]T, error) {
	if size <= 0 {
		size = DefaultPageSize
	}
	var out []T
	for n := 0; n < MaxPages; n++ {
		p, err := page(size, offset)
		if IsNotFound(err) {
			break
		}
		if err != nil {
			return nil, err
		}
		out = append(out, p.Items...)
		offset += len(p.Items)
		if len(p.Items) < size || (p.TotalCount >= 0 && offset >= p.TotalCount) {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	if out == nil {
		out = []T{}
	}
	return out, nil
}

// decodePage decodes a list answer: a bare array (no total), a single
// object (one item, no total), or {"TotalCount": n, "Data": [...]}, the
// shape Password Safe answers when paging is asked for. The wrapper is
// told from a single object by its Data or TotalCount member, which no
// listed object has; taking it for one object would turn a page into one
// empty item.
func decodePage[T any](b []byte) (Page[T], error) {
	p := Page[T]{TotalCount: -1}
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var w struct {
			TotalCount *int
			Data       json.RawMessage
		}
		if err := json.Unmarshal(b, &w); err != nil {
			return p, err
		}
		if w.TotalCount != nil || w.Data != nil {
			if w.TotalCount != nil {
				if *w.TotalCount < 0 {
					return p, fmt.Errorf("negative TotalCount")
				}
				p.TotalCount = *w.TotalCount
			}
			d := bytes.TrimSpace(w.Data)
			if len(d) > 0 && d[0] != '[' && !bytes.Equal(d, []byte("null")) {
				return p, fmt.Errorf("the Data member is not a list")
			}
			err := decodeList(d, &p.Items)
			return p, err
		}
	}
	err := decodeList(b, &p.Items)
	return p, err
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
