package client_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// stubPS answers sign-in and GET <list> with body(query); it counts the list calls.
func stubPS(t *testing.T, list string, body func(r *http.Request) string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/Auth/SignAppin"):
			_, _ = w.Write([]byte(`{"UserId":1,"UserName":"svc-vault"}`))
		case strings.HasSuffix(r.URL.Path, "/Auth/Signout"):
		case strings.HasSuffix(r.URL.Path, "/"+list):
			n.Add(1)
			_, _ = w.Write([]byte(body(r)))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func stubClient(t *testing.T, srv *httptest.Server) *client.Client {
	return newClient(t, client.Config{BaseURL: srv.URL + "/api/public/v3", APIKey: "k", RunAs: "svc-vault", MaxRetries: -1})
}

// A {TotalCount, Data} answer (Password Safe's when limit is given) is a
// page, never one account: decoded as one object it would have been a
// single account with every field empty.
func TestManagedAccountsPagedShape(t *testing.T) {
	const two = `[{"SystemId":1,"SystemName":"db","AccountId":11,"AccountName":"postgres"},` +
		`{"SystemId":1,"SystemName":"db","AccountId":12,"AccountName":"app"}]`
	for _, tc := range []struct {
		name, body string
		total      int
		ids        []int
		bad        bool
	}{
		{"wrapped page", `{"TotalCount":3,"Data":` + two + `}`, 3, []int{11, 12}, false},
		{"wrapped, keys in another case", `{"totalCount":2,"data":` + two + `}`, 2, []int{11, 12}, false},
		{"wrapped, empty", `{"TotalCount":0,"Data":[]}`, 0, nil, false},
		{"wrapped, Data null", `{"TotalCount":0,"Data":null}`, 0, nil, false},
		{"wrapped, total only", `{"TotalCount":0}`, 0, nil, false},
		{"bare array", two, -1, []int{11, 12}, false},
		{"single object", `{"SystemId":1,"SystemName":"db","AccountId":11,"AccountName":"postgres"}`, -1, []int{11}, false},
		{"empty body", ``, -1, nil, false},
		{"Data not a list", `{"TotalCount":1,"Data":{"AccountId":11}}`, 0, nil, true},
		{"negative total", `{"TotalCount":-1,"Data":[]}`, 0, nil, true},
		{"not JSON", `<html>`, 0, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := stubPS(t, "ManagedAccounts", func(*http.Request) string { return tc.body })
			c := stubClient(t, srv)
			p, err := c.ManagedAccountsPage(ctxT(t), client.ManagedAccountsQuery{Limit: 2})
			if tc.bad {
				if !errors.Is(err, client.ErrUnexpectedResponse) {
					t.Fatalf("err = %v, want ErrUnexpectedResponse", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []int
			for _, a := range p.Items {
				if a.AccountID == 0 || a.AccountName == "" {
					t.Errorf("an empty account was decoded: %+v", a)
				}
				ids = append(ids, a.AccountID)
			}
			if p.TotalCount != tc.total || len(ids) != len(tc.ids) || (len(ids) > 0 && ids[0] != tc.ids[0]) {
				t.Errorf("page = %v (total %d), want %v (total %d)", ids, p.TotalCount, tc.ids, tc.total)
			}
			list, err := c.ManagedAccounts(ctxT(t), client.ManagedAccountsQuery{Limit: 2})
			if err != nil || len(list) != len(tc.ids) {
				t.Errorf("ManagedAccounts = %d accounts, %v", len(list), err)
			}
		})
	}
}

// The All calls read page after page, by the total when the server gives
// one and by a short page otherwise.
func TestAllPages(t *testing.T) {
	s := newSim(t)
	c := newClient(t, keyConfig(s, ""))
	ctx := ctxT(t)
	for _, tc := range []struct {
		limit, want, calls int
	}{
		{7, 46, 7}, // 46 accounts: 6 full pages and one of 4
		{23, 46, 2},
		{46, 46, 1}, // the total says there is no more
		{0, 46, 1},  // the default page, 1000
	} {
		s.Inspect().ResetCalls()
		got, err := c.AllManagedAccounts(ctx, client.ManagedAccountsQuery{Limit: tc.limit})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int]bool{}
		for _, a := range got {
			if seen[a.AccountID] {
				t.Errorf("limit %d: account %d twice", tc.limit, a.AccountID)
			}
			seen[a.AccountID] = true
		}
		if len(got) != tc.want || s.Inspect().Calls(epManaged) != tc.calls {
			t.Errorf("limit %d: %d accounts in %d calls, want %d in %d", tc.limit, len(got), s.Inspect().Calls(epManaged), tc.want, tc.calls)
		}
	}
	// Filters go with every page; no match is an empty list.
	got, err := c.AllManagedAccounts(ctx, client.ManagedAccountsQuery{AccountName: "svc", Limit: 15})
	if err != nil || len(got) != 40 {
		t.Errorf("filtered: %d, %v", len(got), err)
	}
	got, err = c.AllManagedAccounts(ctx, client.ManagedAccountsQuery{SystemName: "nope"})
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("no match: %v, %v", got, err)
	}

	s.Inspect().ResetCalls()
	systems, err := c.AllManagedSystems(ctx, client.ManagedSystemsQuery{Limit: 10})
	if err != nil || len(systems) != 44 || s.Inspect().Calls(pstest.EndpointManagedSystems) != 5 {
		t.Fatalf("systems: %d in %d calls, %v", len(systems), s.Inspect().Calls(pstest.EndpointManagedSystems), err)
	}
	if sys := systems[3]; sys.ManagedSystemID != sysWin || sys.SystemName != "win-app-01" || sys.EntityTypeID != client.EntityAsset ||
		sys.NetBiosName != "EXAMPLE" || sys.WorkgroupID == nil {
		t.Errorf("systems[3] = %+v", sys)
	}
	p, err := c.ManagedSystems(ctx, client.ManagedSystemsQuery{Name: "web-01", Limit: 5})
	if err != nil || p.TotalCount != 1 || len(p.Items) != 1 || p.Items[0].ManagedSystemID != sysWeb {
		t.Errorf("by name: %+v, %v", p, err)
	}
	p, err = c.ManagedSystems(ctx, client.ManagedSystemsQuery{Type: client.EntityDatabase, Limit: 5})
	if err != nil || p.TotalCount != 0 || len(p.Items) != 0 {
		t.Errorf("databases: %+v, %v", p, err)
	}
	for _, q := range []client.ManagedSystemsQuery{{Type: 5}, {Type: -1}, {Limit: -1}, {Offset: -1}, {Name: "a\x00"}} {
		if _, err := c.ManagedSystems(ctx, q); !errors.Is(err, client.ErrInvalidInput) {
			t.Errorf("%+v: %v", q, err)
		}
	}
}

// A server that ignores the total and answers short pages is read until
// a short page; one that gives no total at all too.
func TestAllPagesWithoutTotal(t *testing.T) {
	srv, n := stubPS(t, "ManagedSystems", func(r *http.Request) string {
		switch r.URL.Query().Get("offset") {
		case "":
			return `[{"ManagedSystemID":1,"SystemName":"a"},{"ManagedSystemID":2,"SystemName":"b"}]`
		case "2":
			return `[{"ManagedSystemID":3,"SystemName":"c"}]`
		}
		t.Errorf("asked for offset %q", r.URL.Query().Get("offset"))
		return `[]`
	})
	c := stubClient(t, srv)
	got, err := c.AllManagedSystems(ctxT(t), client.ManagedSystemsQuery{Limit: 2})
	if err != nil || len(got) != 3 || n.Load() != 2 {
		t.Fatalf("%d systems in %d calls, %v", len(got), n.Load(), err)
	}
}

// Every All* call reads at most MaxPages pages, and a list longer than that
// fails (ErrTooManyPages) rather than pass its first pages off as all of
// it. The folder list shares the walk with the discovery calls.
func TestAllPagesMoreThanMaxPages(t *testing.T) {
	s := newSim(t)
	c := newClient(t, keyConfig(s, ""))
	ctx := ctxT(t)
	before, err := c.AllFolders(ctx, client.FoldersQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for i := len(before); i <= client.MaxPages; i++ {
		s.Edit().AddFolder(pstest.Folder{ID: fmt.Sprintf("5e1a7c3f-0000-4000-8000-%012d", i), Name: fmt.Sprintf("f%04d", i), Readers: []string{"*"}})
	}
	s.Inspect().ResetCalls()
	_, err = c.AllFolders(ctx, client.FoldersQuery{Limit: 1})
	if !errors.Is(err, client.ErrTooManyPages) || s.Inspect().Calls(pstest.EndpointSecretsSafeFolders) != client.MaxPages {
		t.Fatalf("one folder a page: %v after %d calls, want ErrTooManyPages after %d", err, s.Inspect().Calls(pstest.EndpointSecretsSafeFolders), client.MaxPages)
	}
	all, err := c.AllFolders(ctx, client.FoldersQuery{Limit: 2})
	if err != nil || len(all) != client.MaxPages+1 {
		t.Fatalf("two folders a page: %d folders, %v; want %d", len(all), err, client.MaxPages+1)
	}
}
