package backend_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	. "github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// manyAccountsWorld is the demo world plus system 900 "bulk" with n accounts
// (IDs 900001...) every requestor may request.
func manyAccountsWorld(n int) *pstest.World {
	w := pstest.DemoWorld()
	sys := pstest.System{ID: 900, Name: "bulk"}
	for i := 1; i <= n; i++ {
		sys.Accounts = append(sys.Accounts, pstest.Account{ID: 900000 + i, Name: fmt.Sprintf("acct-%05d", i), Password: "Bulk-Pw-1!"})
	}
	w.Systems = append(w.Systems, sys)
	return w
}

func keysOfResp(t *testing.T, resp *logical.Response) []string {
	t.Helper()
	ks, _ := resp.Data["keys"].([]string)
	return ks
}

// accounts/ reads every page: 2,546 accounts are three pages of GET
// ManagedAccounts, each a {TotalCount, Data} answer, and none of them is
// taken for one account.
func TestAccountsEveryPage(t *testing.T) {
	te := newTestBackend(t, withWorld(manyAccountsWorld(2500)))
	const all = 46 + 2500
	for _, tc := range []struct {
		name     string
		data     map[string]interface{}
		keys     int
		calls    int
		total    interface{}
		firstKey string
	}{
		{"every page", nil, all, 3, nil, "db-prod-01/postgres"},
		{"filtered, every page", map[string]interface{}{"system_name": "bulk"}, 2500, 3, nil, "bulk/acct-00001"},
		{"one page", map[string]interface{}{"limit": 5}, 5, 1, all, "db-prod-01/postgres"},
		{"one page further on", map[string]interface{}{"limit": 1000, "offset": 2000}, all - 2000, 1, all, ""},
		{"offset alone", map[string]interface{}{"offset": all - 1}, 1, 1, all, "bulk/acct-02500"},
		{"single account", map[string]interface{}{"system_name": "bulk", "account_name": "acct-00042"}, 1, 1, nil, "bulk/acct-00042"},
		{"no match", map[string]interface{}{"system_name": "nope"}, 0, 1, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := te.sub(t)
			te.srv.Inspect().ResetCalls()
			for _, op := range []logical.Operation{logical.ListOperation, logical.ReadOperation} {
				resp := te.mustOK(te.do(te.req(op, "accounts/", tc.data)))
				keys := keysOfResp(t, resp)
				if len(keys) != tc.keys || resp.Data["total_count"] != tc.total {
					t.Fatalf("%s: %d keys (total_count %v), want %d (%v)", op, len(keys), resp.Data["total_count"], tc.keys, tc.total)
				}
				if tc.firstKey != "" && keys[0] != tc.firstKey {
					t.Errorf("%s: first key %q, want %q", op, keys[0], tc.firstKey)
				}
				for _, k := range keys {
					if k == "/" || strings.HasPrefix(k, "/") || strings.HasSuffix(k, "/") {
						t.Fatalf("%s: an empty account was listed (a page decoded as one account?): %q", op, k)
					}
				}
			}
			if n := te.srv.Inspect().Calls(pstest.EndpointManagedAccounts); n != 2*tc.calls {
				t.Errorf("%d GET ManagedAccounts, want %d", n, 2*tc.calls)
			}
		})
	}
	resp, err := te.do(te.req(logical.ListOperation, "accounts/", map[string]interface{}{"limit": 1001}))
	te.mustFail(resp, err, http.StatusBadRequest, "limit")
}

func TestSystemsPath(t *testing.T) {
	te := newTestBackend(t)
	for _, tc := range []struct {
		name  string
		data  map[string]interface{}
		keys  []string // the first keys
		n     int
		total interface{}
	}{
		{"all", nil, []string{"db-prod-01", "web-01", "fin-db-01", "win-app-01", "load-00"}, 44, nil},
		{"by name", map[string]interface{}{"name": "WIN-APP-01"}, []string{"win-app-01"}, 1, nil},
		{"assets", map[string]interface{}{"type": "asset"}, []string{"db-prod-01"}, 44, nil},
		{"databases", map[string]interface{}{"type": "Database"}, nil, 0, nil},
		{"a page", map[string]interface{}{"limit": 2, "offset": 1}, []string{"web-01", "fin-db-01"}, 2, 44},
		{"past the end", map[string]interface{}{"limit": 10, "offset": 100}, nil, 0, 44},
		{"no match", map[string]interface{}{"name": "nope"}, nil, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := te.sub(t)
			for _, op := range []logical.Operation{logical.ListOperation, logical.ReadOperation} {
				resp := te.mustOK(te.do(te.req(op, "systems/", tc.data)))
				keys := keysOfResp(t, resp)
				if len(keys) != tc.n || resp.Data["total_count"] != tc.total {
					t.Fatalf("%s: %d keys %v (total_count %v), want %d (%v)", op, len(keys), keys, resp.Data["total_count"], tc.n, tc.total)
				}
				for i, k := range tc.keys {
					if keys[i] != k {
						t.Errorf("%s: key %d is %q, want %q", op, i, keys[i], k)
					}
				}
			}
		})
	}
	resp := te.mustOK(te.do(te.req(logical.ListOperation, "systems/", map[string]interface{}{"name": "win-app-01"})))
	info := resp.Data["key_info"].(map[string]interface{})["win-app-01"].(map[string]interface{})
	if info["system_id"] != 4 || info["entity_type"] != "asset" || info["netbios_name"] != "EXAMPLE" || info["platform_id"] != 1 ||
		info["workgroup_id"] != 1 || info["dns_name"] != "win-app-01.example" {
		t.Errorf("key_info %v", info)
	}
	for _, tc := range []struct {
		data map[string]interface{}
		want string
	}{
		{map[string]interface{}{"type": "mainframe"}, "type"},
		{map[string]interface{}{"limit": 1001}, "limit"},
		{map[string]interface{}{"offset": -1}, "offset"},
		{map[string]interface{}{"name": "a\x01b"}, "name"},
	} {
		resp, err := te.do(te.req(logical.ReadOperation, "systems/", tc.data))
		te.mustFail(resp, err, http.StatusBadRequest, tc.want)
	}
	// Without the permission, Password Safe answers 403: the answer says
	// which permission is missing.
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointManagedSystems, Status: http.StatusForbidden, Count: 1})
	resp, err := te.do(te.req(logical.ListOperation, "systems/", nil))
	te.mustFail(resp, err, http.StatusForbidden, "Password Safe System Management (Read)", pstest.DemoUserSvcVault)
}

// status after checkouts by two run-as users, a pending request, and a
// check-in queued while Password Safe fails check-ins.
func TestStatus(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	te.writeRole("web", map[string]interface{}{"system_name": "web-01", "account_name": "root"})
	te.writeRole("alice", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "run_as": pstest.DemoUserAlice})
	te.writeRole("fin", withWait("0s"))

	read := func() map[string]interface{} {
		t.Helper()
		resp := te.mustOK(te.read("status"))
		// Through JSON, as an operator sees it.
		raw, err := json.Marshal(resp.Data)
		if err != nil {
			t.Fatal(err)
		}
		te.mu.Lock()
		for s := range te.secrets {
			if strings.Contains(string(raw), s) {
				t.Errorf("status shows a credential")
			}
		}
		te.mu.Unlock()
		if strings.Contains(string(raw), pstest.DemoAPIKey) {
			t.Errorf("status shows the API key")
		}
		var out map[string]interface{}
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	get := func(m map[string]interface{}, path string) interface{} {
		t.Helper()
		var v interface{} = m
		for _, p := range strings.Split(path, ".") {
			mm, ok := v.(map[string]interface{})
			if !ok {
				t.Fatalf("%s: no %q in %v", path, p, v)
			}
			v = mm[p]
		}
		return v
	}

	empty := read()
	for path, want := range map[string]interface{}{
		"requests.held": 0.0, "checkin_queue.count": 0.0, "wal.unfinished": 0.0, "sessions.cached": 2.0, // the role writes looked up as svc-vault and alice
		"wal.rollback_after_seconds": 900.0, "checkin_queue.next_try": nil,
	} {
		if got := get(empty, path); got != want {
			t.Errorf("empty mount: %s = %v, want %v", path, got, want)
		}
	}

	pg1 := te.mustCreds("pg", nil)
	te.mustCreds("web", nil)
	al := te.mustCreds("alice", nil)
	pending := te.mustOK(te.credsAs("fin", "entity-1"))
	if pending.Data["status"] != "pending" {
		t.Fatalf("fin: %v", pending.Data)
	}
	// Check-ins fail: the revoke queues its check-in.
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCheckin, Status: http.StatusServiceUnavailable, Rate: 1})
	te.mustRevoke(pg1)
	qid := requestIDOf(pg1)
	if te.queued(qid) == nil {
		t.Fatalf("check-in of %d not queued", qid)
	}
	// A WAL entry of a checkout that never finished.
	walID, err := framework.PutWAL(context.Background(), te.s, "passwordsafe-request", map[string]interface{}{"id": "x"})
	if err != nil {
		t.Fatal(err)
	}

	st := read()
	for path, want := range map[string]interface{}{
		"requests.held":                                         3.0, // web, alice, fin (pending)
		"requests.leases":                                       2.0,
		"requests.pending_claims":                               1.0,
		"requests.pending":                                      1.0,
		"requests.orphans":                                      0.0,
		"requests.by_role.web":                                  1.0,
		"requests.by_role.alice":                                1.0,
		"requests.by_role.fin":                                  1.0,
		"requests.by_run_as.alice":                              1.0,
		"requests.by_run_as.svc-vault":                          2.0,
		"checkin_queue.count":                                   1.0,
		"checkin_queue.oldest_request_id":                       float64(qid),
		"wal.unfinished":                                        1.0,
		"sessions.cached":                                       2.0,
		"sessions.signed_in":                                    2.0,
		"sessions.by_run_as.alice":                              1.0,
		"sessions.by_run_as.svc-vault":                          1.0,
		"sessions.max":                                          64.0,
		"upstream.endpoints.PUT Requests/{id}/Checkin.calls":    1.0,
		"upstream.endpoints.PUT Requests/{id}/Checkin.http_5xx": 1.0,
		"upstream.endpoints.PUT Requests/{id}/Checkin.retries":  3.0,
		"upstream.endpoints.POST Requests.calls":                4.0,
		"upstream.endpoints.POST Requests.failed":               0.0,
		"upstream.endpoints.POST Auth/SignAppin.calls":          2.0,
		"upstream.endpoints.GET Credentials/{id}.http_4xx":      1.0, // 4034: fin is not approved yet
		"upstream.total.failed":                                 2.0,
	} {
		if got := get(st, path); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	if s, _ := get(st, "checkin_queue.last_error").(string); !strings.Contains(s, "503") {
		t.Errorf("queue last_error %q", s)
	}
	if s, _ := get(st, "upstream.endpoints.PUT Requests/{id}/Checkin.last_error").(string); !strings.Contains(s, "503") {
		t.Errorf("check-in last_error %q", s)
	}
	for _, p := range []string{"checkin_queue.next_try", "checkin_queue.oldest_queued_at", "wal.oldest", "requests.oldest_since",
		"requests.next_expiry", "upstream.since", "upstream.endpoints.PUT Requests/{id}/Checkin.last_error_at"} {
		if s, _ := get(st, p).(string); s == "" {
			t.Errorf("%s is empty", p)
		}
	}
	for _, p := range []string{"upstream.total.p50_ms", "upstream.total.p99_ms", "upstream.total.max_ms", "upstream.endpoints.POST Requests.p90_ms"} {
		if v, _ := get(st, p).(float64); v <= 0 {
			t.Errorf("%s = %v", p, get(st, p))
		}
	}
	if get(st, "upstream.total.p50_ms").(float64) > get(st, "upstream.total.max_ms").(float64) {
		t.Errorf("p50 above max")
	}

	// Password Safe takes check-ins again: the queue drains; the pending
	// request is denied upstream and its holder goes with the sweep.
	te.srv.Faults().Clear()
	te.drain()
	if err := framework.DeleteWAL(context.Background(), te.s, walID); err != nil {
		t.Fatal(err)
	}
	st = read()
	if get(st, "checkin_queue.count") != 0.0 || get(st, "wal.unfinished") != 0.0 || get(st, "checkin_queue.last_error") != "" {
		t.Errorf("after the outage: queue %v, wal %v", get(st, "checkin_queue"), get(st, "wal"))
	}
	te.mustRevoke(al)
}

// Every upstream call of every client of the engine is counted once: the
// metrics agree with the simulator's own count.
func TestStatusCountsEveryUpstreamCall(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	te.srv.Inspect().ResetCalls()
	before := te.e.Metrics().Total.Calls
	for i := 0; i < 5; i++ {
		te.mustRevoke(te.mustCreds("pg", nil))
	}
	got := te.e.Metrics().Total.Calls - before
	var sim uint64
	for _, n := range te.srv.Inspect().CallCounts() {
		sim += uint64(n)
	}
	if got != sim {
		t.Fatalf("metrics counted %d calls, the simulator %d", got, sim)
	}
}

// Operators' actions through requests/ send Vault events: approve, deny and
// check-in, with who did it and never a secret.
func TestEventsOperatorActions(t *testing.T) {
	te, ent := approvalWorld(t)
	alice, bob := ent[pstest.DemoUserAlice], ent[pstest.DemoUserBob]

	approved := requestIDOf(te.submit(alice, "fin", nil))
	te.mustOK(te.act(bob, approved, "approve", map[string]interface{}{"reason": "ok"}))
	lease := te.mustOK(te.claimAs(alice, approved))
	te.mustOK(te.act(alice, approved, "checkin", nil))
	te.mustRevoke(lease) // the lease of a checked-in request revokes without a second event
	denied := requestIDOf(te.submit(alice, "fin", nil))
	te.mustOK(te.act(bob, denied, "deny", map[string]interface{}{"reason": "no"}))
	te.mustOK(te.act(alice, requestIDOf(te.submit(alice, "fin", nil)), "rotate-on-checkin", nil))

	te.e.FlushEvents()
	te.events.Lock()
	defer te.events.Unlock()
	type ev struct{ typ, id, runAs, by, entity, role string }
	var got []ev
	for _, e := range te.events.Events {
		md := e.Event.Metadata.AsMap()
		s := func(k string) string { v, _ := md[k].(string); return v }
		got = append(got, ev{string(e.Type), s("request_id"), s("run_as"), s("by"), s("entity_id"), s("role")})
		raw, _ := json.Marshal(md)
		if strings.Contains(string(raw), te.srv.Inspect().Password(31)) || strings.Contains(string(raw), "Password") {
			t.Errorf("event %s carries a secret: %s", e.Type, raw)
		}
	}
	id := func(n int) string { return fmt.Sprint(n) }
	want := []ev{
		{"passwordsafe/approve", id(approved), pstest.DemoUserBob, "operator", bob, "fin"},
		{"passwordsafe/checkout", id(approved), pstest.DemoUserAlice, "", "", "fin"},
		{"passwordsafe/checkin", id(approved), pstest.DemoUserAlice, "operator", alice, "fin"},
		{"passwordsafe/deny", id(denied), pstest.DemoUserBob, "operator", bob, "fin"},
	}
	var filtered []ev
	for _, e := range got {
		if e.typ == "passwordsafe/checkout" && e.id != id(approved) {
			continue // the submits' own checkout events, if any
		}
		filtered = append(filtered, e)
	}
	if fmt.Sprint(filtered) != fmt.Sprint(want) {
		t.Fatalf("events\n got %v\nwant %v", filtered, want)
	}
	if ActionRotate != "rotate" || EventRotate != "passwordsafe/rotate" {
		t.Fatalf("rotate event %q", EventRotate)
	}
}
