package backend_test

import (
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// finSA is the approval account: fin-db-01/sa (31), one approval needed,
// approvers bob and dave.
var finSA = map[string]interface{}{"system_name": "fin-db-01", "account_name": "sa", "ttl": "30m", "max_ttl": "2h"}

// approvalWorld is a backend whose run-as user is the caller's entity name,
// with entities alice, bob, carol and dave (each named after the Password
// Safe user), and role fin on the approval account.
func approvalWorld(t *testing.T) (*testEnv, map[string]string) {
	te := newTestBackend(t, withConfig(map[string]interface{}{"run_as_source": "entity_name"}))
	ids := map[string]string{}
	var ents []*logical.Entity
	for _, u := range []string{pstest.DemoUserAlice, pstest.DemoUserBob, pstest.DemoUserCarol, pstest.DemoUserDave} {
		e := person(u)
		ids[u] = e.ID
		ents = append(ents, e)
	}
	withIdentity(te, ents...)
	te.writeRole("fin", finSA)
	te.writeRole("pg", pgRole)
	return te, ids
}

// submit is `vault write requests role=<role>` as entity.
func (te *testEnv) submit(entity, role string, extra map[string]interface{}) *logical.Response {
	te.t.Helper()
	data := map[string]interface{}{"role": role}
	for k, v := range extra {
		data[k] = v
	}
	resp := te.mustOK(te.as(entity, logical.UpdateOperation, "requests", data))
	if resp == nil || requestIDOf(resp) == 0 || resp.Secret != nil {
		te.t.Fatalf("requests write: want a request ID and no lease, got %#v", resp)
	}
	return resp
}

func (te *testEnv) act(entity string, id int, action string, data map[string]interface{}) (*logical.Response, error) {
	return te.as(entity, logical.UpdateOperation, "requests/"+strconv.Itoa(id)+"/"+action, data)
}

func (te *testEnv) claimAs(entity string, id int) (*logical.Response, error) {
	return te.as(entity, logical.ReadOperation, "requests/"+strconv.Itoa(id)+"/creds", nil)
}

// The whole approval story, two Vault entities mapped to two Password Safe
// users: alice requests, bob approves, alice reads under a lease, revoke
// checks it in and rotates the password.
func TestRequestsApprovalStory(t *testing.T) {
	te, ent := approvalWorld(t)
	alice, bob, carol := ent[pstest.DemoUserAlice], ent[pstest.DemoUserBob], ent[pstest.DemoUserCarol]
	before := te.srv.Inspect().Password(31)

	resp := te.submit(alice, "fin", map[string]interface{}{"reason": "quarter close", "ticket_number": "CHG-42", "ttl": "20m"})
	id := requestIDOf(resp)
	st, _ := te.srv.Inspect().Request(id)
	if resp.Data["status"] != "pending" || st.Status != pstest.StatusPending || st.UserName != pstest.DemoUserAlice {
		t.Fatalf("after submit: answer %v, upstream %+v", resp.Data, st)
	}
	if !reasonIs(st.Reason, "quarter close") || st.TicketNumber != "CHG-42" || st.DurationMinutes != 120 {
		t.Fatalf("request fields: %+v", st)
	}
	if want := testMount + "requests/" + strconv.Itoa(id) + "/creds"; resp.Data["creds_path"] != want ||
		!strings.Contains(resp.Data["message"].(string), "waiting for approval") {
		t.Fatalf("answer does not say how to go on: %v", resp.Data)
	}
	if rec := te.record(id); rec == nil || len(te.holders(id)) != 1 {
		t.Fatalf("no pending record for the request: %+v", rec)
	}
	for _, h := range te.holders(id) {
		if h.EntityID != alice || !h.Pending {
			t.Fatalf("holder %+v, want pending for alice's entity", h)
		}
	}

	// Not approved yet: refused with the meaning of 4034.
	resp2, err := te.claimAs(alice, id)
	te.mustFail(resp2, err, http.StatusForbidden, "not approved yet", "4034")

	// The approver sees it in the approval queue.
	list := te.mustOK(te.as(bob, logical.ListOperation, "requests/", map[string]interface{}{"queue": "app", "status": "pending"}))
	if keys := list.Data["keys"].([]string); len(keys) != 1 || keys[0] != strconv.Itoa(id) {
		t.Fatalf("bob's approval queue: %v", list.Data["keys"])
	}
	ki := list.Data["key_info"].(map[string]interface{})[strconv.Itoa(id)].(map[string]interface{})
	if ki["system_name"] != "fin-db-01" || ki["account_name"] != "sa" || ki["status"] != "pending" {
		t.Fatalf("key_info: %v", ki)
	}

	te.mustOK(te.act(bob, id, "approve", map[string]interface{}{"reason": "approved for the close"}))
	st, _ = te.srv.Inspect().Request(id)
	if st.Status != pstest.StatusActive || len(st.Approvers) != 1 || st.Approvers[0] != pstest.DemoUserBob {
		t.Fatalf("after approve: %+v", st)
	}
	// A second approval: 4036, with its meaning.
	resp2, err = te.act(bob, id, "approve", nil)
	te.mustFail(resp2, err, http.StatusForbidden, "approved already", "4036")

	// Another entity cannot take alice's credential, and nothing changes.
	creds := te.srv.Inspect().Calls("GET Credentials/{id}")
	resp2, err = te.claimAs(carol, id)
	te.mustFail(resp2, err, http.StatusForbidden, "another Vault entity")
	if st, _ := te.srv.Inspect().Request(id); st.Status != pstest.StatusActive || te.srv.Inspect().Calls("GET Credentials/{id}") != creds {
		t.Fatalf("the request was touched by another entity's read: %+v", st)
	}

	// alice reads it under a lease.
	lease := te.mustOK(te.claimAs(alice, id))
	if lease.Secret == nil || lease.Data["password"] != before || lease.Data["account_name"] != "sa" || requestIDOf(lease) != id {
		t.Fatalf("claim: %#v", lease)
	}
	if lease.Secret.TTL <= 0 || lease.Secret.TTL > 20*60*1e9 {
		t.Fatalf("lease TTL %s, want the per-call 20m", lease.Secret.TTL)
	}
	// Claimed once only.
	resp2, err = te.claimAs(alice, id)
	te.mustFail(resp2, err, http.StatusNotFound)

	te.mustRevoke(lease)
	st, _ = te.srv.Inspect().Request(id)
	if st.Status != pstest.StatusCheckedIn {
		t.Fatalf("after revoke: %+v", st)
	}
	if te.srv.Inspect().Password(31) == before {
		t.Fatalf("password did not rotate at check-in")
	}
	if te.record(id) != nil || te.walCount() != 0 {
		t.Fatalf("state left behind")
	}
}

func TestRequestsSelfApprovalRefused(t *testing.T) {
	te, ent := approvalWorld(t)
	dave, bob := ent[pstest.DemoUserDave], ent[pstest.DemoUserBob]
	id := requestIDOf(te.submit(dave, "fin", nil))
	for _, action := range []string{"approve", "deny"} {
		resp, err := te.act(dave, id, action, nil)
		msg := te.mustFail(resp, err, http.StatusForbidden, "4033", "their own request", `run-as user "dave"`)
		if strings.Contains(msg, pstest.DemoAPIKey) || strings.Contains(msg, pstest.DemoPasswordDave) {
			t.Fatalf("secret in message")
		}
	}
	if st, _ := te.srv.Inspect().Request(id); st.Status != pstest.StatusPending || len(st.Approvers) != 0 {
		t.Fatalf("request changed: %+v", st)
	}
	// A requestor-only user cannot approve either.
	resp, err := te.act(ent[pstest.DemoUserCarol], id, "approve", nil)
	te.mustFail(resp, err, http.StatusForbidden, "4032", "not an approver")

	// Deny ends a pending request; its claim is then gone.
	te.mustOK(te.act(bob, id, "deny", map[string]interface{}{"reason": "not in the change window"}))
	st, _ := te.srv.Inspect().Request(id)
	if st.Status != pstest.StatusDenied || st.CheckinReason != "not in the change window" {
		t.Fatalf("after deny: %+v", st)
	}
	resp, err = te.claimAs(dave, id)
	te.mustFail(resp, err, http.StatusNotFound, "has ended")
	if te.record(id) != nil {
		t.Fatalf("the record of a denied request stays")
	}
	// Denying it again: it has ended.
	resp, err = te.act(bob, id, "deny", nil)
	te.mustFail(resp, err, http.StatusNotFound, "has ended")
}

func TestRequestsDefaultReasonAndLimits(t *testing.T) {
	te, ent := approvalWorld(t)
	id := requestIDOf(te.submit(ent[pstest.DemoUserAlice], "fin", nil))
	te.srv.Inspect().ResetCalls()
	for _, reason := range []string{strings.Repeat("x", 1001), "tab\tok but bell\a not", "\xff"} {
		resp, err := te.act(ent[pstest.DemoUserBob], id, "deny", map[string]interface{}{"reason": reason})
		te.mustFail(resp, err, http.StatusBadRequest, "reason")
	}
	resp, err := te.as(ent[pstest.DemoUserAlice], logical.UpdateOperation, "requests",
		map[string]interface{}{"role": "fin", "ticket_number": strings.Repeat("9", 21)})
	te.mustFail(resp, err, http.StatusBadRequest, "ticket_number")
	if len(te.srv.Inspect().CallCounts()) != 0 {
		t.Fatalf("bad input reached Password Safe: %v", te.srv.Inspect().CallCounts())
	}
	// 1000 characters (not bytes) are fine.
	te.mustOK(te.act(ent[pstest.DemoUserBob], id, "deny", map[string]interface{}{"reason": strings.Repeat("é", 1000)}))

	// Without a reason, Password Safe's audit names the Vault path and entity.
	id = requestIDOf(te.submit(ent[pstest.DemoUserAlice], "fin", nil))
	te.mustOK(te.act(ent[pstest.DemoUserBob], id, "deny", nil))
	st, _ := te.srv.Inspect().Request(id)
	if want := "vault: " + testMount + "requests/" + strconv.Itoa(id) + "/deny (entity " + ent[pstest.DemoUserBob] + ")"; st.CheckinReason != want {
		t.Fatalf("default reason %q, want %q", st.CheckinReason, want)
	}
}

// The caller cannot pick the Password Safe user.
func TestRequestsRunAsNotFromCaller(t *testing.T) {
	te, ent := approvalWorld(t)
	te.srv.Inspect().ResetCalls()
	for _, f := range []string{"run_as", "run_as_source", "password"} {
		resp, err := te.as(ent[pstest.DemoUserCarol], logical.UpdateOperation, "requests", map[string]interface{}{"role": "fin", f: pstest.DemoUserBob})
		te.mustFail(resp, err, http.StatusBadRequest, f, "cannot be given")
		resp, err = te.act(ent[pstest.DemoUserCarol], 1, "approve", map[string]interface{}{f: pstest.DemoUserBob})
		te.mustFail(resp, err, http.StatusBadRequest, f, "cannot be given")
	}
	if len(te.srv.Inspect().CallCounts()) != 0 {
		t.Fatalf("upstream calls: %v", te.srv.Inspect().CallCounts())
	}
}

// An operator's check-in of an active request ends it; the lease's later
// revocation is a no-op (404 = done) and cleans up the record.
func TestRequestsOperatorCheckinThenRevoke(t *testing.T) {
	te := newTestBackend(t) // fixed run-as svc-vault: every caller acts as it
	te.writeRole("pg", pgRole)
	before := te.srv.Inspect().Password(11)
	lease := te.mustCreds("pg", nil)
	id := requestIDOf(lease)

	te.mustOK(te.as("ent-operator", logical.UpdateOperation, "requests/"+strconv.Itoa(id)+"/checkin",
		map[string]interface{}{"reason": "INC-7 credential exposure"}))
	st, _ := te.srv.Inspect().Request(id)
	if st.Status != pstest.StatusCheckedIn || st.CheckinReason != "INC-7 credential exposure" || te.srv.Inspect().Password(11) == before {
		t.Fatalf("after operator check-in: %+v", st)
	}
	checkins := te.srv.Inspect().Calls("PUT Requests/{id}/Checkin")
	if err := te.revoke(lease); err != nil {
		t.Fatalf("revoke after operator check-in: %v", err)
	}
	if te.record(id) != nil {
		t.Fatalf("lease record left")
	}
	if n := te.srv.Inspect().Calls("PUT Requests/{id}/Checkin"); n > checkins+1 {
		t.Fatalf("revoke retried the check-in: %d calls", n-checkins)
	}
	if err := te.revoke(lease); err != nil { // and again: idempotent
		t.Fatalf("second revoke: %v", err)
	}
	// Checking in an ended request: 404 with what it means.
	resp, err := te.write("requests/"+strconv.Itoa(id)+"/checkin", nil)
	te.mustFail(resp, err, http.StatusNotFound, "has ended")
}

// With identity run-as, Password Safe lets only the requestor check in:
// another entity's check-in is refused and the request stays active.
func TestRequestsCheckinByOthersRefused(t *testing.T) {
	te, ent := approvalWorld(t)
	lease := te.mustOK(te.as(ent[pstest.DemoUserAlice], logical.ReadOperation, "creds/pg", nil))
	id := requestIDOf(lease)
	for _, action := range []string{"checkin", "rotate-on-checkin"} {
		resp, err := te.act(ent[pstest.DemoUserCarol], id, action, nil)
		te.mustFail(resp, err, http.StatusForbidden, "4031", `run-as user "carol" did not make this request`)
	}
	if st, _ := te.srv.Inspect().Request(id); st.Status != pstest.StatusActive {
		t.Fatalf("request changed: %+v", st)
	}
	// The owner may turn rotation on and check it in.
	te.mustOK(te.act(ent[pstest.DemoUserAlice], id, "rotate-on-checkin", nil))
	te.mustOK(te.act(ent[pstest.DemoUserAlice], id, "checkin", nil))
	te.mustRevoke(lease)
	if te.record(id) != nil {
		t.Fatalf("record left")
	}
}

func TestRequestsRotateOnCheckin(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "rotate_on_checkin": false})
	lease := te.mustCreds("pg", nil)
	id := requestIDOf(lease)
	if st, _ := te.srv.Inspect().Request(id); st.RotateOnCheckin {
		t.Fatalf("rotation on before the call")
	}
	te.mustOK(te.write("requests/"+strconv.Itoa(id)+"/rotate-on-checkin", nil))
	if st, _ := te.srv.Inspect().Request(id); !st.RotateOnCheckin {
		t.Fatalf("rotation not turned on")
	}
	before := te.srv.Inspect().Password(11)
	te.mustRevoke(lease)
	if te.srv.Inspect().Password(11) == before {
		t.Fatalf("no rotation at check-in")
	}
}

func TestRequestsListAndRead(t *testing.T) {
	te, ent := approvalWorld(t)
	alice, bob, carol := ent[pstest.DemoUserAlice], ent[pstest.DemoUserBob], ent[pstest.DemoUserCarol]
	pending := requestIDOf(te.submit(alice, "fin", nil))
	lease := te.mustOK(te.as(alice, logical.ReadOperation, "creds/pg", nil))
	active := requestIDOf(lease)
	defer te.mustRevoke(lease)
	defer te.act(bob, pending, "deny", nil) //nolint:errcheck // cleanup

	keys := func(entity string, op logical.Operation, data map[string]interface{}) []string {
		t.Helper()
		resp := te.mustOK(te.as(entity, op, "requests/", data))
		ks, _ := resp.Data["keys"].([]string)
		sort.Strings(ks)
		return ks
	}
	both := []string{strconv.Itoa(pending), strconv.Itoa(active)}
	sort.Strings(both)
	for _, tc := range []struct {
		entity string
		op     logical.Operation
		data   map[string]interface{}
		want   []string
	}{
		{alice, logical.ListOperation, nil, both},
		{alice, logical.ReadOperation, map[string]interface{}{"status": "all", "queue": "req"}, both},
		{alice, logical.ListOperation, map[string]interface{}{"status": "pending"}, []string{strconv.Itoa(pending)}},
		{alice, logical.ListOperation, map[string]interface{}{"status": "ACTIVE"}, []string{strconv.Itoa(active)}},
		{bob, logical.ListOperation, map[string]interface{}{"queue": "app"}, []string{strconv.Itoa(pending)}},
		{bob, logical.ListOperation, map[string]interface{}{"queue": "app", "status": "active"}, nil},
		{carol, logical.ListOperation, nil, nil},
	} {
		if got := keys(tc.entity, tc.op, tc.data); strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s %v: keys %v, want %v", tc.entity, tc.data, got, tc.want)
		}
	}
	// A requestor has no approval queue: the refusal says so.
	resp, err := te.as(alice, logical.ListOperation, "requests/", map[string]interface{}{"queue": "app"})
	te.mustFail(resp, err, http.StatusForbidden, "4033")
	// Bad filters are refused before the wire.
	te.srv.Inspect().ResetCalls()
	for _, data := range []map[string]interface{}{{"status": "open"}, {"queue": "mine"}, {"status": "all\n"}} {
		resp, err := te.as(alice, logical.ListOperation, "requests/", data)
		te.mustFail(resp, err, http.StatusBadRequest, "must be")
	}
	if len(te.srv.Inspect().CallCounts()) != 0 {
		t.Fatalf("bad filters reached Password Safe: %v", te.srv.Inspect().CallCounts())
	}

	// requests/:id read: the requestor's own, the approver's queue, nobody else's.
	r := te.mustOK(te.as(alice, logical.ReadOperation, "requests/"+strconv.Itoa(active), nil))
	if r.Data["request_id"] != active || r.Data["status"] != "active" || r.Data["account_name"] != "postgres" ||
		r.Data["queue"] != "req" || r.Data["expires_at"] == nil {
		t.Fatalf("read: %v", r.Data)
	}
	r = te.mustOK(te.as(bob, logical.ReadOperation, "requests/"+strconv.Itoa(pending), nil))
	if r.Data["status"] != "pending" || r.Data["queue"] != "app" || r.Data["system_name"] != "fin-db-01" {
		t.Fatalf("approver's read: %v", r.Data)
	}
	resp, err = te.as(carol, logical.ReadOperation, "requests/"+strconv.Itoa(active), nil)
	te.mustFail(resp, err, http.StatusNotFound, `run-as user "carol"`)
	resp, err = te.as(alice, logical.ReadOperation, "requests/999999", nil)
	te.mustFail(resp, err, http.StatusNotFound)
}

// IDs in paths are positive integers; anything else is a 400 or matches
// no path, and changes nothing upstream or in storage.
func TestRequestsBadIDs(t *testing.T) {
	te, ent := approvalWorld(t)
	te.srv.Inspect().ResetCalls()
	keysBefore := storageKeys(t, te)
	bad := []string{"0", "-1", "abc", "1/2", "..", ".", "", "٣", "１", "1\x00", "1\n", " 1", "1 ",
		"2147483648", "99999999999999999999", "1e3", "0x10", "+1"}
	for _, id := range bad {
		for _, c := range []struct {
			op     logical.Operation
			suffix string
		}{
			{logical.ReadOperation, ""},
			{logical.ReadOperation, "/creds"},
			{logical.UpdateOperation, "/approve"},
			{logical.UpdateOperation, "/deny"},
			{logical.UpdateOperation, "/checkin"},
			{logical.UpdateOperation, "/rotate-on-checkin"},
		} {
			path := "requests/" + id + c.suffix
			if id == "" && c.suffix == "" {
				continue // "requests/" is the list path
			}
			resp, err := te.as(ent[pstest.DemoUserBob], c.op, path, nil)
			if errors.Is(err, logical.ErrUnsupportedPath) {
				continue
			}
			if _, status := failure(resp, err); status != http.StatusBadRequest {
				t.Errorf("%s %q: status %d (%v, %#v), want 400 or no route", c.op, path, status, err, resp)
			}
		}
	}
	if len(te.srv.Inspect().CallCounts()) != 0 {
		t.Fatalf("bad IDs reached Password Safe: %v", te.srv.Inspect().CallCounts())
	}
	if after := storageKeys(t, te); strings.Join(after, ",") != strings.Join(keysBefore, ",") {
		t.Fatalf("storage changed: %v -> %v", keysBefore, after)
	}
}

func storageKeys(t *testing.T, te *testEnv) []string {
	t.Helper()
	var out []string
	var walk func(prefix string)
	walk = func(prefix string) {
		ks, err := te.s.List(t.Context(), prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range ks {
			if strings.HasSuffix(k, "/") {
				walk(prefix + k)
				continue
			}
			out = append(out, prefix+k)
		}
	}
	walk("")
	sort.Strings(out)
	return out
}

// requests write: role checks, auto-approved accounts answer active, and
// the request belongs to the entity that made it.
func TestRequestsSubmit(t *testing.T) {
	te, ent := approvalWorld(t)
	alice, carol := ent[pstest.DemoUserAlice], ent[pstest.DemoUserCarol]
	for _, data := range []map[string]interface{}{{}, {"role": "nope"}, {"role": "pg", "status": "pending"}, {"role": "pg", "ttl": "-5s"}, {"role": "../config"}, {"role": "pg/x"}} {
		resp, err := te.as(alice, logical.UpdateOperation, "requests", data)
		te.mustFail(resp, err, http.StatusBadRequest)
	}
	resp := te.submit(alice, "pg", nil)
	id := requestIDOf(resp)
	if resp.Data["status"] != "active" || !strings.Contains(resp.Data["message"].(string), "is active") {
		t.Fatalf("auto-approved request: %v", resp.Data)
	}
	if st, _ := te.srv.Inspect().Request(id); st.UserName != pstest.DemoUserAlice || st.Status != pstest.StatusActive {
		t.Fatalf("upstream: %+v", st)
	}
	r, err := te.claimAs(carol, id)
	te.mustFail(r, err, http.StatusForbidden)
	lease := te.mustOK(te.claimAs(alice, id))
	if lease.Data["password"] != te.srv.Inspect().Password(11) {
		t.Fatalf("claimed credential is not the account's password")
	}
	te.mustRevoke(lease)
	if st, _ := te.srv.Inspect().Request(id); st.Status != pstest.StatusCheckedIn {
		t.Fatalf("not checked in: %+v", st)
	}

	// A token without an entity is warned that its request is not its alone.
	te2 := newTestBackend(t)
	te2.writeRole("pg", pgRole)
	resp = te2.mustOK(te2.write("requests", map[string]interface{}{"role": "pg"}))
	if !strings.Contains(strings.Join(resp.Warnings, " "), "no Vault identity entity") {
		t.Fatalf("warnings: %v", resp.Warnings)
	}
	lease = te2.mustOK(te2.read("requests/" + strconv.Itoa(requestIDOf(resp)) + "/creds"))
	te2.remember(lease)
	te2.mustRevoke(lease)
}

// Every path of this issue is in the OpenAPI document with an operation ID
// of its own.
func TestRequestsOpenAPI(t *testing.T) {
	te := newTestBackend(t)
	root, err := te.do(&logical.Request{Operation: logical.HelpOperation, Path: "", Storage: te.s})
	if err != nil {
		t.Fatal(err)
	}
	doc := root.Data["openapi"].(*framework.OASDocument)
	for _, p := range []string{"/requests/", "/requests/{id}", "/requests/{id}/creds", "/requests/{id}/approve",
		"/requests/{id}/deny", "/requests/{id}/checkin", "/requests/{id}/rotate-on-checkin",
		"/aliases/", "/aliases/{name}", "/accounts/"} {
		if doc.Paths[p] == nil {
			t.Errorf("OpenAPI lacks %s", p)
		}
	}
	seen := map[string]string{}
	for p, item := range doc.Paths {
		for _, op := range []*framework.OASOperation{item.Get, item.Post, item.Delete} {
			if op == nil {
				continue
			}
			if prev, dup := seen[op.OperationID]; dup {
				t.Errorf("operation ID %q used by %s and %s", op.OperationID, prev, p)
			}
			seen[op.OperationID] = p
		}
	}
	if doc.Paths["/requests/"] != nil && doc.Paths["/requests/"].Get != nil {
		var qs []string
		for _, prm := range doc.Paths["/requests/"].Get.Parameters {
			qs = append(qs, prm.Name)
		}
		if !strings.Contains(strings.Join(qs, ","), "status") || !strings.Contains(strings.Join(qs, ","), "queue") {
			t.Errorf("requests/ list parameters: %v", qs)
		}
	}
}

// Everything with an upstream side effect is forwarded from performance
// standbys and secondaries before anything happens; listings are served
// locally.
func TestRequestsForwardedFromStandby(t *testing.T) {
	sys := &logical.StaticSystemView{DefaultLeaseTTLVal: time.Hour, MaxLeaseTTLVal: 24 * time.Hour}
	te := newTestBackend(t, withSystemView(sys))
	te.writeRole("pg", pgRole)
	te.srv.Inspect().ResetCalls()
	for _, state := range []consts.ReplicationState{consts.ReplicationPerformanceStandby, consts.ReplicationPerformanceSecondary} {
		sys.ReplicationStateVal = state
		for _, r := range []*logical.Request{
			te.req(logical.UpdateOperation, "requests", map[string]interface{}{"role": "pg"}),
			te.req(logical.ReadOperation, "requests/5/creds", nil),
			te.req(logical.UpdateOperation, "requests/5/approve", nil),
			te.req(logical.UpdateOperation, "requests/5/deny", nil),
			te.req(logical.UpdateOperation, "requests/5/checkin", nil),
			te.req(logical.UpdateOperation, "requests/5/rotate-on-checkin", nil),
		} {
			if _, err := te.do(r); !errors.Is(err, logical.ErrReadOnly) {
				t.Errorf("%s %s on %v: err %v, want ErrReadOnly (forward)", r.Operation, r.Path, state, err)
			}
		}
	}
	if n := len(te.srv.Inspect().CallCounts()); n != 0 {
		t.Fatalf("upstream calls before forwarding: %v", te.srv.Inspect().CallCounts())
	}
	sys.ReplicationStateVal = consts.ReplicationPerformanceStandby
	for _, p := range []string{"requests/", "aliases/", "accounts/"} {
		te.mustOK(te.do(te.req(logical.ListOperation, p, nil)))
	}
}

// A pending request made by a token without an entity can be claimed by
// that token only.
func TestClaimTokenWithoutEntity(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	mk := te.req(logical.UpdateOperation, "requests", map[string]interface{}{"role": "pg"})
	mk.ClientTokenAccessor = "accessor-a"
	resp := te.mustOK(te.do(mk))
	if !strings.Contains(strings.Join(resp.Warnings, " "), "only this same token") {
		t.Fatalf("warnings: %v", resp.Warnings)
	}
	claim := func(accessor string) (*logical.Response, error) {
		r := te.req(logical.ReadOperation, "requests/"+strconv.Itoa(requestIDOf(resp))+"/creds", nil)
		r.ClientTokenAccessor = accessor
		out, err := te.do(r)
		te.remember(out)
		return out, err
	}
	calls := te.srv.Inspect().Calls(pstest.EndpointCredentials)
	r, err := claim("accessor-b")
	te.mustFail(r, err, http.StatusForbidden, "another token")
	if te.srv.Inspect().Calls(pstest.EndpointCredentials) != calls {
		t.Fatalf("a refused claim reached Password Safe")
	}
	lease := te.mustOK(claim("accessor-a"))
	te.mustRevoke(lease)
}
