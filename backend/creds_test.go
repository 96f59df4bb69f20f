package backend_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

var pgRole = map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres"}

func TestCredsLeaseLife(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	before := te.srv.Inspect().Password(11)

	resp := te.mustCreds("pg", nil)
	d := resp.Data
	if d["username"] != "postgres" || d["password"] != before || d["system_name"] != "db-prod-01" || d["account_name"] != "postgres" {
		t.Fatalf("data = %#v", d)
	}
	if _, ok := d["private_key"]; ok {
		t.Fatalf("private_key returned for a password-only role")
	}
	id := requestIDOf(resp)
	st, _ := te.srv.Inspect().Request(id)
	if st.Status != pstest.StatusActive || st.DurationMinutes != 24*60 || !st.RotateOnCheckin {
		t.Fatalf("request = %+v", st)
	}
	if resp.Secret.TTL != time.Hour || resp.Secret.MaxTTL != 24*time.Hour {
		t.Fatalf("ttl %s max %s", resp.Secret.TTL, resp.Secret.MaxTTL)
	}
	if exp, _ := time.Parse(time.RFC3339, d["expires_at"].(string)); !exp.Equal(st.ExpiresAt) {
		t.Fatalf("expires_at %v, request expires %v", d["expires_at"], st.ExpiresAt)
	}
	if te.walCount() != 0 {
		t.Fatalf("WAL entries left after the lease was handed out")
	}
	te.mustRevoke(resp)
	st, _ = te.srv.Inspect().Request(id)
	if st.Status != pstest.StatusCheckedIn || !strings.HasPrefix(st.CheckinReason, "vault lease revoked: "+testMount+"creds/") {
		t.Fatalf("after revoke: %+v", st)
	}
	if te.srv.Inspect().Password(11) == before {
		t.Fatalf("password did not rotate at check-in")
	}
	// One sign-in for the whole backend life (the role write used it too),
	// then exactly three calls for the lease.
	want := map[string]int{"POST Auth/SignAppin": 1, "GET ManagedAccounts": 1, "POST Requests": 1, "GET Credentials/{id}": 1, "PUT Requests/{id}/Checkin": 1}
	if got := te.srv.Inspect().CallCounts(); !equalCounts(got, want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}
	if te.record(id) != nil {
		t.Fatalf("record left after revoke")
	}
}

func equalCounts(got, want map[string]int) bool {
	for k, v := range got {
		if v != want[k] {
			return false
		}
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func TestCredsRotateOnCheckinFalse(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "rotate_on_checkin": false})
	before := te.srv.Inspect().Password(11)
	resp := te.mustCreds("pg", nil)
	if st, _ := te.srv.Inspect().Request(requestIDOf(resp)); st.RotateOnCheckin {
		t.Fatalf("request asks for rotation")
	}
	te.mustRevoke(resp)
	if te.srv.Inspect().Password(11) != before {
		t.Fatalf("password rotated although rotate_on_checkin=false")
	}
}

func TestCredsKeyTypes(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("root", map[string]interface{}{"system_name": "web-01", "account_name": "root", "credential_types": "password,dsskey,passphrase"})
	resp := te.mustCreds("root", nil)
	d := resp.Data
	if !strings.Contains(d["private_key"].(string), "PRIVATE KEY") || d["passphrase"] != pstest.DemoPassphrase21 || d["password"] != te.srv.Inspect().Password(21) {
		t.Fatalf("data: private_key %t passphrase %t password %t", d["private_key"] != "", d["passphrase"] != "", d["password"] != "")
	}
	if n := te.srv.Inspect().Calls(pstest.EndpointCredentials); n != 3 {
		t.Fatalf("GET Credentials calls = %d, want 3", n)
	}
	te.mustRevoke(resp)

	// Key only: no password field.
	te.writeRole("key", map[string]interface{}{"system_name": "web-01", "account_name": "deploy", "credential_types": "dsskey"})
	resp = te.mustCreds("key", nil)
	if _, ok := resp.Data["password"]; ok || resp.Data["private_key"] == "" {
		t.Fatalf("key-only data: %v", keysOf(resp.Data))
	}
	te.mustRevoke(resp)

	// A passphrase the account does not have: the checkout fails cleanly and
	// its request is checked in at once.
	te.writeRole("nopass", map[string]interface{}{"system_name": "web-01", "account_name": "deploy", "credential_types": "passphrase"})
	resp, err := te.creds("nopass", nil)
	te.mustFail(resp, err, http.StatusBadRequest, "passphrase")
	for _, r := range te.srv.Inspect().Requests() {
		if r.AccountID == 22 && r.Status != pstest.StatusCheckedIn {
			t.Fatalf("request %d left %s", r.ID, r.Status)
		}
	}
	if te.walCount() != 0 {
		t.Fatalf("WAL left")
	}
}

func keysOf(m map[string]interface{}) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestCredsAlias(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("web", map[string]interface{}{"alias_name": "web-root", "credential_types": "password,dsskey"})
	te.srv.Inspect().ResetCalls()
	resp := te.mustCreds("web", nil)
	d := resp.Data
	if d["username"] != "root" || d["system_name"] != "web-01" || d["password"] != te.srv.Inspect().Password(21) || d["private_key"] == "" {
		t.Fatalf("data keys %v", keysOf(d))
	}
	st, _ := te.srv.Inspect().Request(requestIDOf(resp))
	if st.AliasID != 2 || st.AccountID != 21 {
		t.Fatalf("request %+v", st)
	}
	te.mustRevoke(resp)
	want := map[string]int{pstest.EndpointCreateAliasRequest: 1, pstest.EndpointAliasCredentials: 2, pstest.EndpointCheckin: 1}
	if got := te.srv.Inspect().CallCounts(); !equalCounts(got, want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}
}

func TestCredsAppAccessAndDomain(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("app", map[string]interface{}{"system_name": "win-app-01", "account_name": "svc_app", "access_type": "App", "application_id": 501})
	resp := te.mustCreds("app", nil)
	if resp.Data["domain"] != "EXAMPLE" || resp.Data["username"] != "svc_app" {
		t.Fatalf("data %v %v", resp.Data["domain"], resp.Data["username"])
	}
	st, _ := te.srv.Inspect().Request(requestIDOf(resp))
	if st.AccessType != "App" || st.ApplicationID != 501 {
		t.Fatalf("request %+v", st)
	}
	// The account allows 60 minutes: the request and the lease stop there.
	if st.DurationMinutes != 60 || resp.Secret.MaxTTL != time.Hour {
		t.Fatalf("duration %d, max ttl %s", st.DurationMinutes, resp.Secret.MaxTTL)
	}
	if len(resp.Warnings) == 0 || !strings.Contains(resp.Warnings[0], "60 minutes") {
		t.Fatalf("no warning about the account's limit: %v", resp.Warnings)
	}
	te.mustRevoke(resp)
}

func TestCredsWriteParameters(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "ttl": "1h", "max_ttl": "4h", "reason": "role reason", "ticket_number": "ROLE-1"})
	resp := te.mustCreds("pg", map[string]interface{}{"ttl": "10m", "reason": "INC-42 hotfix", "ticket_number": "INC-42"})
	st, _ := te.srv.Inspect().Request(requestIDOf(resp))
	if !reasonIs(st.Reason, "INC-42 hotfix") || st.TicketNumber != "INC-42" || st.DurationMinutes != 240 {
		t.Fatalf("request %+v", st)
	}
	if resp.Secret.TTL != 10*time.Minute || resp.Secret.MaxTTL != 4*time.Hour {
		t.Fatalf("ttl %s max %s", resp.Secret.TTL, resp.Secret.MaxTTL)
	}
	te.mustRevoke(resp)

	// Defaults from the role on a read; ttl above max is capped.
	resp = te.mustCreds("pg", nil)
	st, _ = te.srv.Inspect().Request(requestIDOf(resp))
	if !reasonIs(st.Reason, "role reason") || st.TicketNumber != "ROLE-1" || resp.Secret.TTL != time.Hour {
		t.Fatalf("defaults: %+v ttl %s", st, resp.Secret.TTL)
	}
	te.mustRevoke(resp)
	resp = te.mustCreds("pg", map[string]interface{}{"ttl": "9h"})
	if resp.Secret.TTL != 4*time.Hour {
		t.Fatalf("ttl %s, want capped at 4h", resp.Secret.TTL)
	}
	te.mustRevoke(resp)

	for _, tc := range []struct {
		name string
		data map[string]interface{}
		want string
	}{
		{"reason", map[string]interface{}{"reason": strings.Repeat("x", 1001)}, "reason is longer"},
		{"ticket", map[string]interface{}{"ticket_number": strings.Repeat("1", 21)}, "ticket_number is longer"},
		{"ttl", map[string]interface{}{"ttl": "soon"}, "Field validation failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := te.sub(t)
			n := te.srv.Inspect().Calls("POST Requests")
			resp, err := te.creds("pg", tc.data)
			te.mustFail(resp, err, http.StatusBadRequest, tc.want)
			if te.srv.Inspect().Calls("POST Requests") != n {
				t.Fatalf("bad input reached Password Safe")
			}
		})
	}
	resp, err := te.creds("nope", nil)
	te.mustFail(resp, err, http.StatusBadRequest, `role "nope" does not exist`)
}

func TestCredsDefaultReasonNamesThePath(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	resp := te.mustCreds("pg", nil)
	if st, _ := te.srv.Inspect().Request(requestIDOf(resp)); !reasonIs(st.Reason, "vault: passwordsafe/creds/pg") {
		t.Fatalf("reason %q", st.Reason)
	}
	te.mustRevoke(resp)
}

// 1000 checkouts by one run-as user sign in once, and each lease costs
// exactly three calls.
func TestThousandCheckoutsSignInOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	te := newTestBackend(t)
	for i := 0; i < 40; i++ {
		te.writeRole(fmt.Sprintf("load%02d", i), map[string]interface{}{"system_name": fmt.Sprintf("load-%02d", i), "account_name": "svc"})
	}
	var live []*logical.Response
	for i := 0; i < 1000; i++ {
		live = append(live, te.mustCreds(fmt.Sprintf("load%02d", i%40), nil))
		if len(live) == 40 {
			for _, r := range live {
				te.mustRevoke(r)
			}
			live = live[:0]
		}
	}
	want := map[string]int{
		pstest.EndpointSignAppin: 1, pstest.EndpointManagedAccounts: 40, // the role writes
		pstest.EndpointCreateRequest: 1000, pstest.EndpointCredentials: 1000, pstest.EndpointCheckin: 1000,
	}
	if got := te.srv.Inspect().CallCounts(); !equalCounts(got, want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}
	if n := len(te.srv.Inspect().ActiveRequests()); n != 0 {
		t.Fatalf("%d requests still active", n)
	}
}
