package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Lists: one decoder for every shape a list answer comes in, one GET of a
// page, and one walk over the pages of a list.

// DefaultPageSize is the page the All* calls ask for when the query sets
// no Limit (Password Safe's own default page of ManagedAccounts).
const DefaultPageSize = 1000

// MaxPages bounds how many pages an All* call reads, so a server that never
// stops answering full pages cannot keep a caller forever.
const MaxPages = 1000

// ErrTooManyPages is wrapped when an All* call would read more than
// MaxPages pages. It fails rather than return part of the list as if it
// were all of it.
var ErrTooManyPages = errors.New("password safe: the list is longer than the client reads")

// Page is one page of a list: its items, and the number of items the whole
// list has as the server reports it (-1 when the server answered a bare
// array, which carries no total).
type Page[T any] struct {
	Items      []T
	TotalCount int
}

// pagedQuery is a query of a paged list: the walk reads its page and asks
// for the next one.
type pagedQuery[Q any] interface {
	paging() (limit, offset int)
	withPaging(limit, offset int) Q
}

func (q ManagedAccountsQuery) paging() (int, int) { return q.Limit, q.Offset }
func (q ManagedAccountsQuery) withPaging(limit, offset int) ManagedAccountsQuery {
	q.Limit, q.Offset = limit, offset
	return q
}

func (q ManagedSystemsQuery) paging() (int, int) { return q.Limit, q.Offset }
func (q ManagedSystemsQuery) withPaging(limit, offset int) ManagedSystemsQuery {
	q.Limit, q.Offset = limit, offset
	return q
}

func (q FoldersQuery) paging() (int, int) { return q.Limit, q.Offset }
func (q FoldersQuery) withPaging(limit, offset int) FoldersQuery {
	q.Limit, q.Offset = limit, offset
	return q
}

// readAll reads every page of a list from q's offset on, q's limit items a
// page (0: DefaultPageSize), until a page comes back short or empty or the
// reported total is reached. A 404 (nothing matches) ends the list.
func readAll[T any, Q pagedQuery[Q]](ctx context.Context, q Q, page func(context.Context, Q) (Page[T], error)) ([]T, error) {
	size, offset := q.paging()
	if size <= 0 {
		size = DefaultPageSize
	}
	out := []T{}
	for n := 0; ; n++ {
		if n == MaxPages {
			return nil, fmt.Errorf("%w: more than %d pages (page size %d)", ErrTooManyPages, MaxPages, size)
		}
		if n > 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		p, err := page(ctx, q.withPaging(size, offset))
		if IsNotFound(err) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, p.Items...)
		offset += len(p.Items)
		if len(p.Items) < size || (p.TotalCount >= 0 && offset >= p.TotalCount) {
			return out, nil
		}
	}
}

// getPage is one GET of a list (limit and offset added to v when set).
func getPage[T any](ctx context.Context, c *Client, op, path string, v url.Values, limit, offset int) (Page[T], error) {
	none := Page[T]{TotalCount: -1}
	if err := checkPaging(limit, offset); err != nil {
		return none, err
	}
	setInt(v, "limit", limit)
	setInt(v, "offset", offset)
	res, err := c.do(ctx, &call{
		op: op, method: http.MethodGet, path: path, query: v.Encode(), session: true, retry: retryAll,
	})
	defer res.free()
	if err != nil {
		return none, err
	}
	p, err := decodePage[T](res.bytes())
	if err != nil {
		// Not the decoder's message: it could quote the body.
		return none, badResponse(op, res.status, len(res.bytes()))
	}
	return p, nil
}

func checkPaging(limit, offset int) error {
	if limit < 0 {
		return invalid("Limit must not be negative, got %d", limit)
	}
	if offset < 0 {
		return invalid("Offset must not be negative, got %d", offset)
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

// decodePage decodes a list answer in each shape it comes in: a bare array
// (no total), null or an empty body (no items), a single object (one item,
// no total), or the paging wrapper {"TotalCount": n, "Data": [...]} that
// Password Safe answers when paging is asked for (and Secrets Safe from
// API version 3.2). See isPageWrapper for how the wrapper is told from a
// single object.
func decodePage[T any](b []byte) (Page[T], error) {
	p := Page[T]{TotalCount: -1}
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
	case b[0] == '[':
		if err := json.Unmarshal(b, &p.Items); err != nil {
			return p, fmt.Errorf("decoding a list: %w", err)
		}
	case b[0] == '{' && isPageWrapper(b):
		var w struct {
			TotalCount *int
			Data       json.RawMessage
		}
		if err := json.Unmarshal(b, &w); err != nil {
			return p, fmt.Errorf("decoding a page: %w", err)
		}
		if w.TotalCount != nil {
			if *w.TotalCount < 0 {
				return p, errors.New("the page's TotalCount is negative")
			}
			p.TotalCount = *w.TotalCount
		}
		if d := bytes.TrimSpace(w.Data); len(d) > 0 && !bytes.Equal(d, []byte("null")) {
			if d[0] != '[' {
				return p, errors.New("the page's Data member is not a list")
			}
			if err := json.Unmarshal(d, &p.Items); err != nil {
				return p, fmt.Errorf("decoding a page: %w", err)
			}
		}
	default:
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			return p, fmt.Errorf("decoding a list item: %w", err)
		}
		p.Items = []T{v}
	}
	if p.Items == nil {
		p.Items = []T{}
	}
	return p, nil
}

// decodeList is decodePage for callers that need no total.
func decodeList[T any](b []byte, out *[]T) error {
	p, err := decodePage[T](b)
	*out = p.Items
	return err
}

// isPageWrapper reports whether the JSON object b is a paging wrapper: its
// members are TotalCount and Data (any case), or one of them, and nothing
// else. Every listed record has members of its own, so an object with any
// other member is one record even when it has a Data or TotalCount field;
// and a wrapper is never taken for a record, which would make a page one
// empty item.
func isPageWrapper(b []byte) bool {
	var o map[string]json.RawMessage
	if json.Unmarshal(b, &o) != nil || len(o) == 0 {
		return false
	}
	for k := range o {
		switch strings.ToLower(k) {
		case "totalcount", "data":
		default:
			return false
		}
	}
	return true
}
