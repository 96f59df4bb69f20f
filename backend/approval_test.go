package backend_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

var finRole = map[string]interface{}{"system_name": "fin-db-01", "account_name": "sa", "ttl": "30m", "max_ttl": "2h"}

func withWait(wait string) map[string]interface{} {
	m := map[string]interface{}{"approval_wait": wait}
	for k, v := range finRole {
		m[k] = v
	}
	return m
}

func (te *testEnv) claim(id int, entity string) (*logical.Response, error) {
	r := te.req(logical.ReadOperation, fmt.Sprintf("requests/%d/creds", id), nil)
	r.EntityID = entity
	resp, err := te.do(r)
	te.remember(resp)
	return resp, err
}

func TestApprovalPendingThenClaim(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("fin", withWait("0s"))
	resp := te.mustOK(te.credsAs("fin", "entity-1"))
	id := requestIDOf(resp)
	if resp.Secret != nil || resp.Data["status"] != "pending" || id == 0 {
		t.Fatalf("want a pending answer, got %#v", resp)
	}
	if _, ok := resp.Data["password"]; ok {
		t.Fatalf("pending answer carries a password")
	}
	wantHint := fmt.Sprintf("vault read passwordsafe/requests/%d/creds", id)
	if !strings.Contains(resp.Data["message"].(string), wantHint) || resp.Data["creds_path"] != fmt.Sprintf("passwordsafe/requests/%d/creds", id) {
		t.Fatalf("answer does not say how to fetch the credential: %#v", resp.Data)
	}
	if te.status(id) != pstest.StatusPending || te.walCount() != 0 {
		t.Fatalf("status %s, WAL %d", te.status(id), te.walCount())
	}
	rec := te.record(id)
	if rec == nil || te.pendingHolders(id) != 1 {
		t.Fatalf("pending not recorded: %+v", rec)
	}

	// Not approved yet; another entity may never claim it.
	r, err := te.claim(id, "entity-1")
	te.mustFail(r, err, http.StatusForbidden, "not approved yet")
	r, err = te.claim(id, "entity-2")
	te.mustFail(r, err, http.StatusForbidden, "another Vault entity")
	r, err = te.claim(id+1000, "entity-1")
	te.mustFail(r, err, http.StatusNotFound)

	bob := te.userClient(pstest.DemoUserBob, pstest.DemoPasswordBob)
	if err := bob.Approve(context.Background(), id, "ok"); err != nil {
		t.Fatal(err)
	}
	r, err = te.claim(id, "entity-2")
	te.mustFail(r, err, http.StatusForbidden, "another Vault entity")
	if te.status(id) != pstest.StatusActive {
		t.Fatalf("a refused claim touched the request")
	}
	te.srv.Advance(time.Minute)
	lease := te.mustOK(te.claim(id, "entity-1"))
	if lease.Secret == nil || lease.Data["password"] != te.srv.Inspect().Password(31) {
		t.Fatalf("claim: %#v", lease)
	}
	// The request's clock started at approval, a minute ago.
	if lease.Secret.MaxTTL != 2*time.Hour-time.Minute || lease.Secret.TTL != 30*time.Minute {
		t.Fatalf("ttl %s max %s", lease.Secret.TTL, lease.Secret.MaxTTL)
	}
	r, err = te.claim(id, "entity-1")
	te.mustFail(r, err, http.StatusNotFound, "not waiting")
	te.mustRevoke(lease)
	if te.status(id) != pstest.StatusCheckedIn {
		t.Fatalf("not checked in")
	}
}

func TestApprovalDuringWait(t *testing.T) {
	te := newTestBackend(t)
	te.e.SetApprovalPoll(50 * time.Millisecond)
	te.writeRole("fin", withWait("60s"))
	bob := te.userClient(pstest.DemoUserBob, pstest.DemoPasswordBob)
	approved := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			for _, r := range te.srv.Inspect().Requests() {
				// Approve only once the engine has been told 4034, so the
				// read really waits (else it would find the request approved).
				if r.AccountID == 31 && r.Status == pstest.StatusPending && te.srv.Inspect().Calls(pstest.EndpointCredentials) >= 1 {
					approved <- bob.Approve(context.Background(), r.ID, "approved while Vault waits")
					return
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		approved <- fmt.Errorf("no pending request appeared")
	}()
	resp := te.mustCreds("fin", nil)
	if err := <-approved; err != nil {
		t.Fatal(err)
	}
	if resp.Data["password"] != te.srv.Inspect().Password(31) || te.walCount() != 0 {
		t.Fatalf("data keys %v, WAL %d", keysOf(resp.Data), te.walCount())
	}
	if te.srv.Inspect().Calls(pstest.EndpointCredentials) < 2 || te.srv.Inspect().Calls(pstest.EndpointListRequests) != 1 {
		t.Fatalf("calls %v", te.srv.Inspect().CallCounts())
	}
	te.mustRevoke(resp)
}

func TestApprovalWaitRunsOut(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("fin", withWait("3s"))
	resp := te.mustOK(te.creds("fin", nil))
	if resp.Data["status"] != "pending" {
		t.Fatalf("got %#v", resp.Data)
	}
	// One read, then one poll per second of approval_wait.
	if n := te.srv.Inspect().Calls(pstest.EndpointCredentials); n != 4 {
		t.Fatalf("GET Credentials = %d, want 4", n)
	}
}

func TestPendingReconciliation(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("fin", withWait("0s"))
	bob := te.userClient(pstest.DemoUserBob, pstest.DemoPasswordBob)
	ctx := context.Background()

	unclaimed := requestIDOf(te.mustOK(te.creds("fin", nil)))
	if err := bob.Approve(ctx, unclaimed, ""); err != nil {
		t.Fatal(err)
	}
	// The periodic func leaves a pending or recently approved request alone.
	if err := te.rollback(false); err != nil {
		t.Fatal(err)
	}
	if te.status(unclaimed) != pstest.StatusActive || te.record(unclaimed) == nil {
		t.Fatalf("reconciled too early")
	}
	// Approved and unclaimed past the window: checked in.
	te.srv.Advance(te.e.PendingClaimWindow() + time.Minute)
	if err := te.rollback(false); err != nil {
		t.Fatal(err)
	}
	if te.status(unclaimed) != pstest.StatusCheckedIn || te.record(unclaimed) != nil {
		t.Fatalf("unclaimed request: %s, record %v", te.status(unclaimed), te.record(unclaimed))
	}

	// Denied: forgotten without a call.
	denied := requestIDOf(te.mustOK(te.creds("fin", nil)))
	if err := bob.Deny(ctx, denied, "no"); err != nil {
		t.Fatal(err)
	}
	checkins := te.srv.Inspect().Calls(pstest.EndpointCheckin)
	if err := te.rollback(false); err != nil {
		t.Fatal(err)
	}
	if te.record(denied) != nil || te.srv.Inspect().Calls(pstest.EndpointCheckin) != checkins {
		t.Fatalf("denied request not forgotten cleanly")
	}
	// Never approved until it lapsed: forgotten.
	lapsed := requestIDOf(te.mustOK(te.creds("fin", nil)))
	te.srv.Advance(3 * time.Hour)
	if err := te.rollback(false); err != nil {
		t.Fatal(err)
	}
	if te.record(lapsed) != nil || te.status(lapsed) != pstest.StatusExpired {
		t.Fatalf("lapsed request: %s", te.status(lapsed))
	}
	keys, _ := te.s.List(ctx, PendingPrefix)
	if len(keys) != 0 {
		t.Fatalf("pending markers left: %v", keys)
	}
}

// Checking in a request that was never approved answers 403 4034: it is
// NOT done (an approver can still approve it). A checkout that fails while
// its request waits for approval keeps it as an orphan, which the periodic
// func checks in once approved.
func TestCheckinNeverApprovedIsNotDone(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("fin", withWait("0s"))
	id := requestIDOf(te.mustOK(te.creds("fin", nil)))
	err := te.e.Checkin(context.Background(), te.s, pstest.DemoUserSvcVault, id, "test")
	if !client.IsNotApproved(err) {
		t.Fatalf("check-in of a pending request = %v, want 4034", err)
	}
	if te.srv.Inspect().Calls(pstest.EndpointCheckin) != 1 {
		t.Fatalf("no check-in call")
	}
	te.srv.Advance(3 * time.Hour) // lapses; the periodic func forgets it
	if err := te.rollback(false); err != nil {
		t.Fatal(err)
	}
}

// Failure 1 (pending forgotten): a checkout whose request waits for
// approval fails afterwards; once an approver approves, the request must be
// checked in, not left active with nothing to end it.
func TestPendingCheckoutFailureNotForgotten(t *testing.T) {
	te := newTestBackend(t, withConfig(map[string]interface{}{"max_retries": 0}))
	te.writeRole("fin", withWait("2s"))
	// The first GET Credentials says 4034; the next poll fails with 503.
	var polls int
	te.srv.Faults().SetFunc(func(endpoint string, r *http.Request) *pstest.Fault {
		if endpoint != pstest.EndpointCredentials {
			return nil
		}
		polls++
		if polls == 2 {
			return &pstest.Fault{Status: http.StatusServiceUnavailable}
		}
		return nil
	})
	te.e.SetApprovalPoll(time.Millisecond)
	resp, err := te.creds("fin", map[string]interface{}{})
	te.mustFail(resp, err, http.StatusBadGateway)
	te.srv.Faults().SetFunc(nil)
	reqs := te.srv.Inspect().Requests()
	if len(reqs) != 1 || reqs[0].Status != pstest.StatusPending {
		t.Fatalf("requests: %+v", reqs)
	}
	id := reqs[0].ID
	if te.record(id) == nil || te.pendingHolders(id) != 1 {
		t.Fatalf("the pending request was forgotten: record %+v", te.record(id))
	}
	if err := te.userClient(pstest.DemoUserBob, pstest.DemoPasswordBob).Approve(context.Background(), id, ""); err != nil {
		t.Fatal(err)
	}
	if err := te.rollback(false); err != nil {
		t.Fatal(err)
	}
	if te.status(id) != pstest.StatusCheckedIn || te.record(id) != nil {
		t.Fatalf("approved orphan: %s, record %+v", te.status(id), te.record(id))
	}
}

// TestPendingStatusWords: BeyondTrust's reference does not enumerate GET
// Requests' Status words, so the engine must recognise a pending request
// however the server spells it (and read a 403 4034 however its body is
// spelt), or its reconciliation would take a request still waiting for an
// approver for an approved one and end it.
func TestPendingStatusWords(t *testing.T) {
	for _, tc := range []struct {
		pending, active string
		bodies          pstest.ErrorBodies
	}{
		{"", "", pstest.ErrorBodiesText},
		{"Pending", "Active", pstest.ErrorBodiesCode},
		{"PENDING", "ACTIVE", pstest.ErrorBodiesObject},
		{"Pending Approval", "Approved", pstest.ErrorBodiesWords},
		{"PendingApproval", "Approved", pstest.ErrorBodiesText},
	} {
		t.Run(tc.pending, func(t *testing.T) {
			te := newTestBackend(t)
			te.srv.Edit().SetStatusWords(tc.pending, tc.active)
			te.srv.Edit().SetErrorBodies(tc.bodies)
			te.writeRole("fin", withWait("0s"))
			id := requestIDOf(te.mustOK(te.credsAs("fin", "entity-1")))
			r, err := te.claim(id, "entity-1")
			te.mustFail(r, err, http.StatusForbidden, "not approved yet")

			// Past the claim window, still waiting for an approver: the
			// periodic func must leave it alone.
			te.srv.Advance(te.e.PendingClaimWindow() + time.Minute)
			if err := te.rollback(false); err != nil {
				t.Fatal(err)
			}
			if te.status(id) != pstest.StatusPending || te.record(id) == nil || te.pendingHolders(id) != 1 {
				t.Fatalf("pending request %q not recognised: status %s, record %v", tc.pending, te.status(id), te.record(id))
			}

			bob := te.userClient(pstest.DemoUserBob, pstest.DemoPasswordBob)
			if err := bob.Approve(context.Background(), id, "ok"); err != nil {
				t.Fatal(err)
			}
			lease := te.mustOK(te.claim(id, "entity-1"))
			if lease.Secret == nil || lease.Data["password"] != te.srv.Inspect().Password(31) {
				t.Fatalf("claim after approval: %#v", lease)
			}
			te.mustRevoke(lease)
			if te.status(id) != pstest.StatusCheckedIn {
				t.Fatalf("not checked in: %s", te.status(id))
			}
		})
	}
}

// A requests write answers "pending" for a request that waits for an
// approver, however Password Safe spells its status.
func TestRequestsWriteStatusWords(t *testing.T) {
	for _, words := range [][2]string{{"", ""}, {"Pending Approval", "Approved"}, {"PENDING", "ACTIVE"}} {
		t.Run(words[0], func(t *testing.T) {
			te := newTestBackend(t)
			te.srv.Edit().SetStatusWords(words[0], words[1])
			te.writeRole("fin", withWait("0s"))
			r := te.req(logical.UpdateOperation, "requests", map[string]interface{}{"role": "fin"})
			r.EntityID = "entity-1"
			resp := te.mustOK(te.do(r))
			if resp.Data["status"] != "pending" || resp.Data["expires_at"] != nil ||
				!strings.Contains(resp.Data["message"].(string), "waiting for approval") {
				t.Fatalf("status %v, expires_at %v, message %q", resp.Data["status"], resp.Data["expires_at"], resp.Data["message"])
			}
			id := requestIDOf(resp)
			bob := te.userClient(pstest.DemoUserBob, pstest.DemoPasswordBob)
			if err := bob.Deny(context.Background(), id, "no"); err != nil {
				t.Fatal(err)
			}
		})
	}
}
