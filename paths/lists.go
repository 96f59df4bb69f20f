package paths

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// What the list paths (accounts/, systems/, secrets-safe/) share: their
// query fields, paging, the LIST and READ operations and the response.

// maxPageLimit bounds one page of a paged list (Password Safe's default
// page is 1000 too).
const maxPageLimit = 1000

// queryField is a field given as a query parameter.
func queryField(typ framework.FieldType, desc, name string) *framework.FieldSchema {
	return &framework.FieldSchema{Type: typ, Description: desc, Query: true,
		DisplayAttrs: &framework.DisplayAttributes{Name: name}}
}

// discoveryPath is accounts/ or systems/ (name): what Password Safe has,
// filtered, every page unless limit or offset asks for one; item names one
// entry, what says what it lists.
func discoveryPath(name, item string, filters map[string]*framework.FieldSchema, list framework.OperationFunc,
	what, synopsis, description string) *framework.Path {
	p := listPath(name+"/?$", &framework.DisplayAttributes{
		OperationPrefix: OperationPrefix,
		OperationSuffix: name,
		Navigation:      true,
		ItemType:        item,
	}, mergeFields(filters, map[string]*framework.FieldSchema{
		"limit": queryField(framework.TypeInt, fmt.Sprintf(
			"Page size (1 to %d); with limit or offset one page is returned, without them every %s.",
			maxPageLimit, strings.TrimSuffix(name, "s")), "Limit"),
		"offset": queryField(framework.TypeInt, strings.ToUpper(name[:1])+name[1:]+" to skip (paging; returns one page).", "Offset"),
	}), list, what, "filters as query parameters", "filters")
	p.HelpSynopsis, p.HelpDescription = synopsis, strings.TrimSpace(description)
	return p
}

// pagingArgs reads limit and offset (0 when not given).
func pagingArgs(d *framework.FieldData) (limit, offset int, err error) {
	limit, offset = d.Get("limit").(int), d.Get("offset").(int)
	switch {
	case limit < 0 || limit > maxPageLimit:
		return 0, 0, fmt.Errorf("limit must be between 1 and %d", maxPageLimit)
	case offset < 0:
		return 0, 0, fmt.Errorf("offset must not be negative")
	}
	return limit, offset, nil
}

// listPath is a path listed with LIST and, since the CLI's list sends no
// parameters, with READ as well: one callback for both. what is the
// summary of both; listNote adds to LIST's, readWith names what READ
// takes.
func listPath(pattern string, attrs *framework.DisplayAttributes, fields map[string]*framework.FieldSchema,
	list framework.OperationFunc, what, listNote, readWith string) *framework.Path {
	return &framework.Path{
		Pattern:      pattern,
		DisplayAttrs: attrs,
		Fields:       fields,
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ListOperation: &framework.PathOperation{
				Callback:     list,
				DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "list"},
				Summary:      what + " (" + listNote + ").",
			},
			logical.ReadOperation: &framework.PathOperation{
				Callback:     list,
				DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "query"},
				Summary:      what + "; the same as LIST, for the CLI's read with " + readWith + ".",
			},
		},
	}
}

// pageOf reads every page when neither limit nor offset is given (the
// total is then unknown, -1), else the one page asked for and the total
// Password Safe reports.
func pageOf[T, Q any](ctx context.Context, q Q, limit, offset int,
	all func(context.Context, Q) ([]T, error), page func(context.Context, Q) (client.Page[T], error)) ([]T, int, error) {
	if limit == 0 && offset == 0 {
		list, err := all(ctx, q)
		return list, -1, err
	}
	p, err := page(ctx, q)
	return p.Items, p.TotalCount, err
}

// keyedList builds a list response with key_info.
type keyedList struct {
	keys []string
	info map[string]interface{}
}

func newKeyedList(n int) *keyedList {
	return &keyedList{keys: make([]string, 0, n), info: make(map[string]interface{}, n)}
}

// add lists an item under key; a key that is empty or already listed gets
// "#" and the item's ID, so that two items Password Safe names alike are
// both shown. That key may be taken too (an item named "x#5", or the same
// item listed twice), and a taken key would lose an item's key_info: then
// a count follows, until the key is free.
func (l *keyedList) add(key, id string, data map[string]interface{}) {
	if _, dup := l.info[key]; dup || key == "" {
		key += "#" + id
		base := key
		for n := 2; l.taken(key); n++ {
			key = base + "#" + strconv.Itoa(n)
		}
	}
	l.keys = append(l.keys, key)
	l.info[key] = data
}

func (l *keyedList) taken(key string) bool {
	_, ok := l.info[key]
	return ok
}

// response is the list, with total_count when it is known (>= 0) and the
// warnings.
func (l *keyedList) response(total int, warnings []string) *logical.Response {
	resp := logical.ListResponseWithInfo(l.keys, l.info)
	if total >= 0 {
		resp.Data["total_count"] = total
	}
	for _, w := range warnings {
		resp.AddWarning(w)
	}
	return resp
}
