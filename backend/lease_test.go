package backend_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

func TestLeaseLifetimeMaths(t *testing.T) {
	te := newTestBackend(t)
	for _, tc := range []struct {
		name        string
		role        map[string]interface{}
		call        map[string]interface{}
		wantMinutes int
		wantTTL     time.Duration
		wantMax     time.Duration
	}{
		{"mount defaults", map[string]interface{}{}, nil, 24 * 60, time.Hour, 24 * time.Hour},
		{"role ttl and max", map[string]interface{}{"ttl": "10m", "max_ttl": "30m"}, nil, 30, 10 * time.Minute, 30 * time.Minute},
		{"max rounds up to minutes", map[string]interface{}{"ttl": "30s", "max_ttl": "90s"}, nil, 2, 30 * time.Second, 90 * time.Second},
		{"under a minute", map[string]interface{}{"ttl": "20s", "max_ttl": "20s"}, nil, 1, 20 * time.Second, 20 * time.Second},
		{"ttl only: max from mount", map[string]interface{}{"ttl": "2h"}, nil, 24 * 60, 2 * time.Hour, 24 * time.Hour},
		{"per-call ttl", map[string]interface{}{"ttl": "1h", "max_ttl": "2h"}, map[string]interface{}{"ttl": "5m"}, 120, 5 * time.Minute, 2 * time.Hour},
		{"per-call ttl above max", map[string]interface{}{"max_ttl": "2h"}, map[string]interface{}{"ttl": "3h"}, 120, 2 * time.Hour, 2 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := te.sub(t)
			role := map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres"}
			for k, v := range tc.role {
				role[k] = v
			}
			name := strings.ReplaceAll(strings.ReplaceAll(tc.name, " ", "-"), ":", "")
			te.writeRole(name, role)
			resp := te.mustCreds(name, tc.call)
			defer te.mustRevoke(resp)
			st, _ := te.srv.Inspect().Request(requestIDOf(resp))
			if st.DurationMinutes != tc.wantMinutes || resp.Secret.TTL != tc.wantTTL || resp.Secret.MaxTTL != tc.wantMax {
				t.Fatalf("DurationMinutes %d TTL %s MaxTTL %s, want %d %s %s",
					st.DurationMinutes, resp.Secret.TTL, resp.Secret.MaxTTL, tc.wantMinutes, tc.wantTTL, tc.wantMax)
			}
			if !resp.Secret.Renewable {
				t.Fatalf("lease not renewable")
			}
		})
	}
}

func TestLeaseMountMaxAboveAPI(t *testing.T) {
	sys := &logical.StaticSystemView{DefaultLeaseTTLVal: time.Hour, MaxLeaseTTLVal: 400 * 24 * time.Hour}
	te := newTestBackend(t, withSystemView(sys))
	te.srv.Edit().SetAccountMaxDuration(11, 600000)
	te.writeRole("pg", pgRole)
	resp := te.mustCreds("pg", nil)
	if st, _ := te.srv.Inspect().Request(requestIDOf(resp)); st.DurationMinutes != 525600 || resp.Secret.MaxTTL != 525600*time.Minute {
		t.Fatalf("DurationMinutes %d MaxTTL %s", st.DurationMinutes, resp.Secret.MaxTTL)
	}
	te.mustRevoke(resp)
}

func TestRenewNeverPastExpiry(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "ttl": "10m", "max_ttl": "30m"})
	resp := te.mustCreds("pg", nil)
	te.srv.Inspect().ResetCalls()
	for i, tc := range []struct {
		advance time.Duration
		want    time.Duration
	}{
		{7 * time.Minute, 10 * time.Minute},
		{7 * time.Minute, 10 * time.Minute},
		{7 * time.Minute, 9 * time.Minute}, // at 21m: 9m left
		{6 * time.Minute, 3 * time.Minute}, // at 27m
	} {
		te.srv.Advance(tc.advance)
		r := te.mustOK(te.renew(resp, 0))
		if r.Secret.TTL != tc.want || r.Secret.MaxTTL != 30*time.Minute {
			t.Fatalf("renew %d: ttl %s max %s, want %s", i, r.Secret.TTL, r.Secret.MaxTTL, tc.want)
		}
	}
	// An increment is honoured but capped too.
	if r := te.mustOK(te.renew(resp, time.Hour)); r.Secret.TTL != 3*time.Minute {
		t.Fatalf("increment not capped: %s", r.Secret.TTL)
	}
	te.srv.Advance(3 * time.Minute)
	r, err := te.renew(resp, 0)
	te.mustFail(r, err, http.StatusBadRequest, "cannot renew", "read a new credential")
	// Each renew asks Password Safe once whether the request is still open
	// (a person may have checked it in there), and nothing else.
	if n, all := te.srv.Inspect().Calls(pstest.EndpointListRequests), te.srv.Inspect().CallCounts(); n != 6 || len(all) != 1 {
		t.Fatalf("renew calls: %v, want 6 GET Requests", all)
	}
	// The request expired upstream at the same moment; revoke is a no-op.
	te.mustRevoke(resp)
}

func TestConflict409(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	te.writeRole("other", pgRole)
	first := te.mustCreds("pg", nil)
	resp, err := te.creds("other", nil)
	msg := te.mustFail(resp, err, http.StatusConflict, "HTTP 409", "conflict_option=reuse",
		fmt.Sprintf("The open request is %d", requestIDOf(first)), `role "pg" holds it`, "vault lease revoke -prefix passwordsafe/creds/pg")
	if strings.Contains(msg, te.srv.Inspect().Password(11)) {
		t.Fatalf("conflict message leaks the password")
	}
	if te.walCount() != 0 {
		t.Fatalf("WAL left after a 409")
	}
	te.mustRevoke(first)
	// Once the first lease is gone the role works again.
	te.mustRevoke(te.mustCreds("pg", nil))

	// A request made outside Vault by the same user.
	svc := te.userClient(pstest.DemoUserSvcVault, "")
	id, _, err := svc.CreateRequest(context.Background(), client.RequestInput{SystemID: 1, AccountID: 11, DurationMinutes: 5})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = te.creds("pg", nil)
	te.mustFail(resp, err, http.StatusConflict, fmt.Sprintf("The open request is %d", id), "not made through this mount")
	if err := svc.Checkin(context.Background(), id, ""); err != nil {
		t.Fatal(err)
	}
}

func TestReuseCountsLeases(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "ttl": "1h", "max_ttl": "8h", "conflict_option": "reuse"})
	a := te.mustCreds("pg", nil)
	te.srv.Advance(3 * time.Hour)
	b := te.mustCreds("pg", nil)
	c := te.mustCreds("pg", nil)
	id := requestIDOf(a)
	if requestIDOf(b) != id || requestIDOf(c) != id {
		t.Fatalf("reuse made new requests: %d %d %d", id, requestIDOf(b), requestIDOf(c))
	}
	if got := len(te.holders(id)); got != 3 {
		t.Fatalf("holders = %d, want 3", got)
	}
	// The reused request ends 5h from now: the later leases are capped by it.
	if b.Secret.MaxTTL != 5*time.Hour || a.Secret.MaxTTL != 8*time.Hour {
		t.Fatalf("max ttl a %s b %s", a.Secret.MaxTTL, b.Secret.MaxTTL)
	}
	if exp, _ := time.Parse(time.RFC3339, b.Data["expires_at"].(string)); !exp.Equal(te.srv.Now().Add(5 * time.Hour)) {
		t.Fatalf("expires_at %v", b.Data["expires_at"])
	}
	te.mustRevoke(a)
	te.mustRevoke(b)
	if te.status(id) != pstest.StatusActive || te.srv.Inspect().Calls(pstest.EndpointCheckin) != 0 {
		t.Fatalf("checked in before the last lease ended")
	}
	// Revoke is idempotent: a repeat does not count twice.
	te.mustRevoke(b)
	if te.status(id) != pstest.StatusActive {
		t.Fatalf("a repeated revoke checked the request in")
	}
	te.mustRevoke(c)
	if te.status(id) != pstest.StatusCheckedIn || te.srv.Inspect().Calls(pstest.EndpointCheckin) != 1 {
		t.Fatalf("not checked in after the last lease: %s, %d check-ins", te.status(id), te.srv.Inspect().Calls(pstest.EndpointCheckin))
	}
	te.mustRevoke(c) // again: 404 is done
}

func TestReuseEnsuresRotation(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("norot", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "conflict_option": "reuse", "rotate_on_checkin": false})
	te.writeRole("rot", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "conflict_option": "reuse"})
	a := te.mustCreds("norot", nil)
	b := te.mustCreds("rot", nil)
	id := requestIDOf(a)
	if requestIDOf(b) != id {
		t.Fatalf("not reused")
	}
	if st, _ := te.srv.Inspect().Request(id); !st.RotateOnCheckin {
		t.Fatalf("a role with rotate_on_checkin=true reused a request that will not rotate")
	}
	// Only once per request.
	c := te.mustCreds("rot", nil)
	if n := te.srv.Inspect().Calls(pstest.EndpointRotateOnCheckin); n != 1 {
		t.Fatalf("RotateOnCheckin calls = %d", n)
	}
	before := te.srv.Inspect().Password(11)
	te.mustRevoke(a)
	te.mustRevoke(b)
	te.mustRevoke(c)
	if te.srv.Inspect().Password(11) == before {
		t.Fatalf("no rotation")
	}
}

func TestRenewOptionReplaces(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "conflict_option": "renew"})
	a := te.mustCreds("pg", nil)
	b := te.mustCreds("pg", nil)
	if requestIDOf(a) == requestIDOf(b) {
		t.Fatalf("renew reused the request")
	}
	if te.status(requestIDOf(a)) == pstest.StatusActive || te.status(requestIDOf(b)) != pstest.StatusActive {
		t.Fatalf("statuses %s %s", te.status(requestIDOf(a)), te.status(requestIDOf(b)))
	}
	if b.Data["password"] == a.Data["password"] {
		t.Fatalf("the replaced request's credential did not rotate")
	}
	te.mustRevoke(a) // its request is gone already: 404 counts as done
	if te.status(requestIDOf(b)) != pstest.StatusActive {
		t.Fatalf("revoking the old lease ended the new request")
	}
	te.mustRevoke(b)
}

// TestAgentHandover plays Vault Agent on a reuse role: read, renew at 2/3 of
// the TTL until renewals stop extending the lease, read again before the old
// lease ends (without revoking it), keep renewing the new one, and let the
// old lease be revoked when it ends. The Agent always holds a credential
// that works, and nothing fails.
func TestAgentHandover(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("agent", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "ttl": "15m", "max_ttl": "1h", "conflict_option": "reuse"})
	const entity = "agent-entity"
	working := func(resp *logical.Response) {
		t.Helper()
		if resp.Data["password"] != te.srv.Inspect().Password(11) || te.status(requestIDOf(resp)) != pstest.StatusActive {
			t.Fatalf("the Agent's credential no longer works (request %d %s)", requestIDOf(resp), te.status(requestIDOf(resp)))
		}
	}
	old := te.mustOK(te.credsAs("agent", entity))
	working(old)
	ttl := old.Secret.TTL
	for {
		te.srv.Advance(ttl * 2 / 3)
		working(old)
		r := te.mustOK(te.renew(old, 0))
		if r.Secret.TTL < 15*time.Minute {
			ttl = r.Secret.TTL // renewals stopped extending it: hand over
			break
		}
	}
	// Agent fetches the new secret at ~2/3 of the last TTL, old lease still live.
	te.srv.Advance(ttl * 2 / 3)
	working(old)
	fresh := te.mustOK(te.credsAs("agent", entity))
	working(fresh)
	if requestIDOf(fresh) == requestIDOf(old) {
		t.Fatalf("the Agent got the expiring request again")
	}
	if fresh.Secret.TTL != 15*time.Minute || fresh.Secret.MaxTTL != time.Hour {
		t.Fatalf("the new lease is not full length: ttl %s max %s", fresh.Secret.TTL, fresh.Secret.MaxTTL)
	}
	// The old lease ends later (revoked by Vault at its expiry): a no-op.
	calls := te.srv.Inspect().Calls(pstest.EndpointCheckin)
	te.srv.Advance(ttl / 3)
	te.mustRevoke(old)
	if te.srv.Inspect().Calls(pstest.EndpointCheckin) != calls {
		t.Fatalf("revoking the replaced lease called Password Safe")
	}
	working(fresh)
	if te.record(requestIDOf(old)) != nil {
		t.Fatalf("the replaced request's record is still there")
	}
	te.mustOK(te.renew(fresh, 0))
	te.mustRevoke(fresh)
	if te.status(requestIDOf(fresh)) != pstest.StatusCheckedIn {
		t.Fatalf("new request not checked in")
	}
}

// A reused request that another entity also holds is never cut short: the
// caller gets it capped at its expiry instead.
func TestNoHandoverAcrossEntities(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("shared", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "ttl": "15m", "max_ttl": "1h", "conflict_option": "reuse"})
	a := te.mustOK(te.credsAs("shared", "entity-a"))
	te.srv.Advance(55 * time.Minute)
	b := te.mustOK(te.credsAs("shared", "entity-b"))
	if requestIDOf(a) != requestIDOf(b) || b.Secret.MaxTTL != 5*time.Minute || b.Secret.TTL != 5*time.Minute {
		t.Fatalf("b: request %d (a %d), ttl %s max %s", requestIDOf(b), requestIDOf(a), b.Secret.TTL, b.Secret.MaxTTL)
	}
	te.mustRevoke(a)
	te.mustRevoke(b)
}

// Concurrent checkouts and revocations on one reused request keep the count
// right: the request is checked in exactly once, after the last lease.
func TestReuseConcurrent(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "conflict_option": "reuse"})
	first := te.mustCreds("pg", nil)
	const n = 20
	leases := make(chan *logical.Response, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := te.creds("pg", nil)
			if msg, status := failure(resp, err); status != 0 {
				errs <- errors.New(msg)
				return
			}
			leases <- resp
		}()
	}
	wg.Wait()
	close(leases)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	id := requestIDOf(first)
	if got := len(te.holders(id)); got != n+1 {
		t.Fatalf("holders = %d, want %d", got, n+1)
	}
	for r := range leases {
		wg.Add(1)
		go func(r *logical.Response) {
			defer wg.Done()
			if requestIDOf(r) != id {
				t.Errorf("request %d, want %d", requestIDOf(r), id)
			}
			if err := te.revoke(r); err != nil {
				t.Error(err)
			}
		}(r)
	}
	wg.Wait()
	if te.status(id) != pstest.StatusActive || te.srv.Inspect().Calls(pstest.EndpointCheckin) != 0 {
		t.Fatalf("checked in while a lease remains")
	}
	te.mustRevoke(first)
	if te.status(id) != pstest.StatusCheckedIn || te.srv.Inspect().Calls(pstest.EndpointCheckin) != 1 || te.record(id) != nil {
		t.Fatalf("status %s, check-ins %d", te.status(id), te.srv.Inspect().Calls(pstest.EndpointCheckin))
	}
}

// The mount's TTLs are read on every checkout: a tune applies to the next
// one at once.
func TestMountTTLTuneAppliesAtOnce(t *testing.T) {
	sys := &logical.StaticSystemView{DefaultLeaseTTLVal: time.Hour, MaxLeaseTTLVal: 24 * time.Hour}
	te := newTestBackend(t, withSystemView(sys))
	te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres"})

	first := te.mustCreds("pg", nil)
	if first.Secret.TTL != time.Hour {
		t.Fatalf("TTL %s, want the mount default 1h", first.Secret.TTL)
	}
	te.mustRevoke(first)

	sys.DefaultLeaseTTLVal = 10 * time.Minute // vault secrets tune -default-lease-ttl=10m
	tuned := te.mustCreds("pg", nil)
	if tuned.Secret.TTL != 10*time.Minute {
		t.Fatalf("TTL %s after the tune, want the tuned 10m", tuned.Secret.TTL)
	}
	te.mustRevoke(tuned)
}

// Callers without an entity (root, orphan tokens) all have an empty entity
// ID: they are told apart by token, so one token's read never cuts short a
// request another token's lease holds, while the same token (an Agent) still
// gets its hand-over.
func TestHandoverTokensWithoutEntity(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("shared", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "ttl": "15m", "max_ttl": "1h", "conflict_option": "reuse"})
	read := func(accessor string) *logical.Response {
		t.Helper()
		r := te.req(logical.ReadOperation, "creds/shared", nil)
		r.ClientTokenAccessor = accessor
		resp, err := te.do(r)
		te.remember(resp)
		return te.mustOK(resp, err)
	}
	cases := []struct {
		name         string
		first, again string
		handover     bool
	}{
		{"another token", "accessor-a", "accessor-b", false},
		{"the same token", "accessor-a", "accessor-a", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := read(tc.first)
			te.srv.Advance(55 * time.Minute)
			again := read(tc.again)
			if handedOver := requestIDOf(again) != requestIDOf(old); handedOver != tc.handover {
				t.Fatalf("hand-over %v, want %v", handedOver, tc.handover)
			}
			if !tc.handover && (again.Secret.MaxTTL != 5*time.Minute || te.status(requestIDOf(old)) != pstest.StatusActive) {
				t.Fatalf("shared request cut short or not capped: max %s, old request %s", again.Secret.MaxTTL, te.status(requestIDOf(old)))
			}
			te.mustRevoke(old)
			te.mustRevoke(again)
		})
	}
}
