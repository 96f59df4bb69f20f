package backend_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	. "github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// inputCall is one call that carries user input.
type inputCall struct {
	name string
	op   logical.Operation
	path string
	data map[string]interface{}
}

func (c inputCall) with(kv map[string]interface{}) inputCall {
	d := map[string]interface{}{}
	for k, v := range c.data {
		d[k] = v
	}
	for k, v := range kv {
		d[k] = v
	}
	c.data = d
	return c
}

// refusedUnchanged runs c and asserts a 400 that names the field and each
// of want, repeats no control character, made no upstream call and changed
// no storage.
func (te *testEnv) refusedUnchanged(c inputCall, field string, want ...string) string {
	te.t.Helper()
	before := storageSnapshot(te.t, te.s)
	te.srv.Inspect().ResetCalls()
	resp, err := te.do(te.req(c.op, c.path, c.data))
	msg := te.mustFail(resp, err, http.StatusBadRequest, append([]string{field}, want...)...)
	for _, r := range msg {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			te.t.Fatalf("%s: the message repeats a control character: %q", c.name, msg)
		}
	}
	if calls := te.srv.Inspect().CallCounts(); len(calls) != 0 {
		te.t.Fatalf("%s: upstream calls for refused input: %v", c.name, calls)
	}
	if ch := changedKeys(before, storageSnapshot(te.t, te.s)); len(ch) != 0 {
		te.t.Fatalf("%s: refused input changed storage: %v", c.name, ch)
	}
	return msg
}

// Limits count characters, not bytes: 900 two-byte characters are a valid
// reason everywhere, 15 are a valid ticket number, and they reach Password
// Safe intact.
func TestInputsCountCharacters(t *testing.T) {
	te := newTestBackend(t)
	reason := strings.Repeat("é", 900) // 1800 bytes
	ticket := strings.Repeat("é", 15)  // 30 bytes
	runAs := strings.Repeat("ü", 200)  // 400 bytes
	te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres",
		"reason": reason, "ticket_number": ticket})
	resp := te.mustCreds("pg", nil)
	if st, _ := te.srv.Inspect().Request(requestIDOf(resp)); !strings.HasPrefix(st.Reason, reason) || st.TicketNumber != ticket {
		t.Fatalf("role reason/ticket upstream: %q / %q", st.Reason, st.TicketNumber)
	}
	te.mustRevoke(resp)

	resp = te.mustCreds("pg", map[string]interface{}{"reason": reason + "x", "ticket_number": ticket})
	if st, _ := te.srv.Inspect().Request(requestIDOf(resp)); !strings.HasPrefix(st.Reason, reason+"x") {
		t.Fatalf("creds write reason upstream: %q", st.Reason)
	}
	te.mustRevoke(resp)

	id := requestIDOf(te.submit("", "pg", map[string]interface{}{"reason": reason, "ticket_number": ticket}))
	te.mustOK(te.write("requests/"+strconv.Itoa(id)+"/checkin", map[string]interface{}{"reason": reason}))

	// run-as user names: 256 characters, whatever their bytes.
	te.mustOK(te.write("config", map[string]interface{}{"run_as": runAs, "verify": false}))
	te.mustOK(te.write("config", map[string]interface{}{"run_as": pstest.DemoUserSvcVault, "verify": false}))
	te.mustOK(te.write("roles/pg", map[string]interface{}{"run_as": runAs})) // no target given: nothing is looked up
	te.refusedUnchanged(inputCall{"role run_as", logical.UpdateOperation, "roles/pg",
		map[string]interface{}{"run_as": strings.Repeat("ü", 257)}}, "run_as", "256 characters")
}

// Reasons of requests the engine creates leave room for the engine's tag:
// role reason, creds write reason and requests write reason take at most
// MaxRequestReasonLen characters; approve, deny and check-in take
// MaxReasonLen.
func TestInputsRequestReasonReserve(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	max := MaxRequestReasonLen
	if max != 960 || MaxReasonLen != 1000 || ReasonTagReserve != 40 {
		t.Fatalf("limits %d/%d/%d", max, MaxReasonLen, ReasonTagReserve)
	}
	tooLong := strings.Repeat("r", max+1)
	for _, c := range []inputCall{
		{"role reason", logical.UpdateOperation, "roles/pg", map[string]interface{}{"reason": tooLong}},
		{"new role reason", logical.UpdateOperation, "roles/new", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "reason": tooLong}},
		{"creds write reason", logical.UpdateOperation, "creds/pg", map[string]interface{}{"reason": tooLong}},
		{"requests write reason", logical.UpdateOperation, "requests", map[string]interface{}{"role": "pg", "reason": tooLong}},
	} {
		t.Run(c.name, func(t *testing.T) {
			te.sub(t).refusedUnchanged(c, "reason", strconv.Itoa(max)+" characters")
		})
	}
	// The limit itself is fine.
	exact := strings.Repeat("r", max)
	te.writeRole("pg", map[string]interface{}{"reason": exact})
	te.mustRevoke(te.mustCreds("pg", nil))
	te.mustRevoke(te.mustCreds("pg", map[string]interface{}{"reason": exact}))
	id := requestIDOf(te.submit("", "pg", map[string]interface{}{"reason": exact}))

	// Actions on a request take up to 1000.
	full := strings.Repeat("c", MaxReasonLen)
	te.refusedUnchanged(inputCall{"checkin reason", logical.UpdateOperation, "requests/" + strconv.Itoa(id) + "/checkin",
		map[string]interface{}{"reason": full + "c"}}, "reason", "1000 characters")
	te.refusedUnchanged(inputCall{"approve reason", logical.UpdateOperation, "requests/" + strconv.Itoa(id) + "/approve",
		map[string]interface{}{"reason": full + "c"}}, "reason", "1000 characters")
	te.mustOK(te.write("requests/"+strconv.Itoa(id)+"/checkin", map[string]interface{}{"reason": full}))
	if st, _ := te.srv.Inspect().Request(id); st.Status != pstest.StatusCheckedIn {
		t.Fatalf("request %d: %s", id, st.Status)
	}
}

// Control characters are refused in every field, the same way, before
// anything is sent. Newline and tab are allowed in reasons only.
func TestInputsControlCharacters(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	creds := inputCall{"creds write", logical.UpdateOperation, "creds/pg", nil}
	submit := inputCall{"requests write", logical.UpdateOperation, "requests", map[string]interface{}{"role": "pg"}}
	role := inputCall{"role update", logical.UpdateOperation, "roles/pg", nil}
	newRole := inputCall{"new role", logical.UpdateOperation, "roles/new", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres"}}
	approve := inputCall{"approve", logical.UpdateOperation, "requests/1001/approve", nil}
	checkin := inputCall{"checkin", logical.UpdateOperation, "requests/1001/checkin", nil}
	accounts := inputCall{"accounts", logical.ReadOperation, "accounts", nil}

	for _, ctl := range []string{"\x00", "\r", "\x1b[31m", "\x7f", "\u0085", "\u009b"} {
		for _, tc := range []struct {
			call  inputCall
			field string
		}{
			{creds, "reason"}, {creds, "ticket_number"},
			{submit, "reason"}, {submit, "ticket_number"},
			{role, "reason"}, {role, "ticket_number"}, {newRole, "reason"}, {newRole, "ticket_number"},
			{newRole, "system_name"}, {newRole, "account_name"},
			{inputCall{"alias role", logical.UpdateOperation, "roles/al", nil}, "alias_name"},
			{approve, "reason"}, {checkin, "reason"},
			{accounts, "system_name"}, {accounts, "account_name"}, {accounts, "workgroup_name"},
		} {
			c := tc.call.with(map[string]interface{}{tc.field: "a" + ctl + "b"})
			if tc.field == "account_name" && c.data["system_name"] == nil && c.path != "accounts" {
				c.data["system_name"] = "db-prod-01"
			}
			t.Run(c.name+" "+tc.field+" "+strconv.QuoteToASCII(ctl), func(t *testing.T) {
				te.sub(t).refusedUnchanged(c, tc.field, "control characters")
			})
		}
	}
	// Newline and tab are allowed in reasons (Password Safe keeps them), not
	// in ticket numbers.
	multi := "INC-4711\n\thotfix"
	resp := te.mustCreds("pg", map[string]interface{}{"reason": multi})
	if st, _ := te.srv.Inspect().Request(requestIDOf(resp)); !strings.HasPrefix(st.Reason, multi) {
		t.Fatalf("reason upstream %q", st.Reason)
	}
	te.mustRevoke(resp)
	te.writeRole("pg", map[string]interface{}{"reason": multi})
	te.refusedUnchanged(creds.with(map[string]interface{}{"ticket_number": "A\tB"}), "ticket_number", "control characters")
	te.refusedUnchanged(submit.with(map[string]interface{}{"ticket_number": "A\nB"}), "ticket_number", "control characters")
	// Invalid UTF-8 is refused too.
	te.refusedUnchanged(creds.with(map[string]interface{}{"reason": "a\xffb"}), "reason", "UTF-8")
	te.refusedUnchanged(submit.with(map[string]interface{}{"ticket_number": "a\xff"}), "ticket_number", "UTF-8")
}

// IDs are positive 32-bit integers wherever they are given.
func TestInputsIDs(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	const over = "2147483648"
	for _, tc := range []struct {
		c     inputCall
		field string
	}{
		{inputCall{"system_id", logical.UpdateOperation, "roles/ids", map[string]interface{}{"system_id": over, "account_id": 11}}, "system_id"},
		{inputCall{"account_id", logical.UpdateOperation, "roles/ids", map[string]interface{}{"system_id": 1, "account_id": over}}, "account_id"},
		{inputCall{"alias_id", logical.UpdateOperation, "roles/ids", map[string]interface{}{"alias_id": over}}, "alias_id"},
		{inputCall{"application_id", logical.UpdateOperation, "roles/pg", map[string]interface{}{"access_type": "App", "application_id": over}}, "application_id"},
		{inputCall{"ticket_system_id", logical.UpdateOperation, "roles/pg", map[string]interface{}{"ticket_system_id": over}}, "ticket_system_id"},
		{inputCall{"access_policy_schedule_id", logical.UpdateOperation, "roles/pg", map[string]interface{}{"access_policy_schedule_id": over}}, "access_policy_schedule_id"},
		{inputCall{"accounts system_id", logical.ReadOperation, "accounts", map[string]interface{}{"system_id": over}}, "system_id"},
		{inputCall{"negative system_id", logical.UpdateOperation, "roles/ids", map[string]interface{}{"system_id": -1, "account_id": 11}}, "system_id"},
		{inputCall{"request id", logical.ReadOperation, "requests/" + over, nil}, "request ID"},
		{inputCall{"request id 0", logical.UpdateOperation, "requests/0/checkin", nil}, "request ID"},
	} {
		t.Run(tc.c.name, func(t *testing.T) {
			te.sub(t).refusedUnchanged(tc.c, tc.field, "positive integer", "2147483647")
		})
	}
}

// A refused role update leaves the stored role as it was.
func TestInputsRoleUnchanged(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "reason": "keep"})
	te.refusedUnchanged(inputCall{"role", logical.UpdateOperation, "roles/pg",
		map[string]interface{}{"reason": "x\x00", "ttl": "5m"}}, "reason")
	r, err := te.e.Role(context.Background(), te.s, "pg")
	if err != nil || r.Reason != "keep" || r.TTL != 0 {
		t.Fatalf("role after a refused update: %+v, %v", r, err)
	}
}
