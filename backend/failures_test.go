package backend_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

func TestSessionExpiredMidLife(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	a := te.mustCreds("pg", nil)
	te.srv.Edit().ExpireSessions()
	te.mustRevoke(a) // 401 -> signs in again once, repeats the call
	b := te.mustCreds("pg", nil)
	// A 401 between the POST and the credential read.
	te.mustRevoke(b)
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCredentials, Status: http.StatusUnauthorized, Count: 1})
	c := te.mustCreds("pg", nil)
	te.mustRevoke(c)
	if n := te.srv.Inspect().Calls(pstest.EndpointSignAppin); n != 3 {
		t.Fatalf("sign-ins = %d, want 3", n)
	}
}

func TestCheckout5xxNotRetriedNoLeak(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCreateRequest, Status: http.StatusServiceUnavailable, Count: 1})
	resp, err := te.creds("pg", nil)
	te.mustFail(resp, err, http.StatusBadGateway, "HTTP 503", "checks it in automatically")
	if n := te.srv.Inspect().Calls(pstest.EndpointCreateRequest); n != 1 {
		t.Fatalf("POST Requests repeated without reuse: %d calls", n)
	}
	if te.walCount() != 1 {
		t.Fatalf("the unknown outcome must stay in the WAL")
	}
	if err := te.rollback(true); err != nil {
		t.Fatal(err)
	}
	if te.walCount() != 0 || len(te.srv.Inspect().ActiveRequests()) != 0 {
		t.Fatalf("after rollback: WAL %d, active %d", te.walCount(), len(te.srv.Inspect().ActiveRequests()))
	}
	// With reuse a repeat is harmless and the client retries it.
	te.writeRole("pg", map[string]interface{}{"conflict_option": "reuse"})
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCreateRequest, Status: http.StatusServiceUnavailable, Count: 1})
	te.mustRevoke(te.mustCreds("pg", nil))
}

func TestLostPOSTAnswerRolledBack(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCreateRequest, Drop: true, AfterHandler: true, Count: 1})
	resp, err := te.creds("pg", nil)
	te.mustFail(resp, err, http.StatusBadGateway)
	active := te.srv.Inspect().ActiveRequests()
	if len(active) != 1 || te.walCount() != 1 {
		t.Fatalf("active %d, WAL %d", len(active), te.walCount())
	}
	// A young entry is left alone (the checkout could still be running).
	if err := te.rollback(false); err != nil {
		t.Fatal(err)
	}
	if te.walCount() != 1 {
		t.Fatalf("rolled back a young WAL entry")
	}
	if err := te.rollback(true); err != nil {
		t.Fatal(err)
	}
	if te.status(active[0].ID) != pstest.StatusCheckedIn || te.walCount() != 0 {
		t.Fatalf("after rollback: %s, WAL %d", te.status(active[0].ID), te.walCount())
	}
	if st, _ := te.srv.Inspect().Request(active[0].ID); !strings.Contains(st.CheckinReason, "rolling back an unfinished checkout") {
		t.Fatalf("check-in reason %q", st.CheckinReason)
	}
}

// Rollback of a lost answer leaves other requests alone: a live lease on
// another account, and requests made before the lost one.
func TestLostAnswerRollbackSparesOthers(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	te.writeRole("app", map[string]interface{}{"system_name": "db-prod-01", "account_name": "app_user"})
	live := te.mustCreds("app", nil)
	te.srv.Advance(10 * time.Minute)
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCreateRequest, Drop: true, AfterHandler: true, Count: 1})
	resp, err := te.creds("pg", nil)
	te.mustFail(resp, err, http.StatusBadGateway)
	if err := te.rollback(true); err != nil {
		t.Fatal(err)
	}
	if te.status(requestIDOf(live)) != pstest.StatusActive {
		t.Fatalf("rollback ended a live lease's request")
	}
	te.mustRevoke(live)
}

// A lost answer for an account that needs approval: the pending request
// cannot be checked in yet; it is recorded and checked in once approved.
func TestLostAnswerPendingOrphan(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("fin", withWait("0s"))
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCreateRequest, Drop: true, AfterHandler: true, Count: 1})
	resp, err := te.creds("fin", nil)
	te.mustFail(resp, err, http.StatusBadGateway)
	if err := te.rollback(true); err != nil {
		t.Fatal(err)
	}
	var id int
	for _, r := range te.srv.Inspect().Requests() {
		if r.AccountID == 31 {
			id = r.ID
		}
	}
	if rec := te.record(id); rec == nil || te.pendingHolders(id) != 1 || te.walCount() != 0 {
		t.Fatalf("orphan not recorded: %+v", rec)
	}
	r, err := te.claim(id, "")
	te.mustFail(r, err, http.StatusNotFound)
	if err := te.userClient(pstest.DemoUserBob, pstest.DemoPasswordBob).Approve(context.Background(), id, ""); err != nil {
		t.Fatal(err)
	}
	if err := te.rollback(false); err != nil {
		t.Fatal(err)
	}
	if te.status(id) != pstest.StatusCheckedIn || te.record(id) != nil {
		t.Fatalf("orphan: %s", te.status(id))
	}
}

func TestCredentialReadFailsChecksInAtOnce(t *testing.T) {
	te := newTestBackend(t, withConfig(map[string]interface{}{"max_retries": 1}))
	te.writeRole("pg", pgRole)
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCredentials, Status: http.StatusInternalServerError, Count: 2})
	resp, err := te.creds("pg", nil)
	te.mustFail(resp, err, http.StatusBadGateway, "HTTP 500")
	reqs := te.srv.Inspect().Requests()
	if len(reqs) != 1 || reqs[0].Status != pstest.StatusCheckedIn || te.walCount() != 0 || te.record(reqs[0].ID) != nil {
		t.Fatalf("requests %+v, WAL %d", reqs, te.walCount())
	}
}

// A failed checkout whose clean-up check-in fails too: the check-in is
// queued (the WAL entry is done with), and the periodic func finishes it.
func TestCleanupCheckinFailsThenQueue(t *testing.T) {
	te := newTestBackend(t, withConfig(map[string]interface{}{"max_retries": 0}))
	te.writeRole("pg", pgRole)
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCredentials, Status: http.StatusInternalServerError, Count: 1})
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCheckin, Status: http.StatusInternalServerError, Count: 1})
	resp, err := te.creds("pg", nil)
	te.mustFail(resp, err, http.StatusBadGateway)
	id := te.srv.Inspect().Requests()[0].ID
	if te.status(id) != pstest.StatusActive || te.walCount() != 0 || te.queued(id) == nil {
		t.Fatalf("the failed clean-up must queue the check-in: %s, WAL %d", te.status(id), te.walCount())
	}
	te.drain()
	if te.status(id) != pstest.StatusCheckedIn || te.queued(id) != nil || te.record(id) != nil {
		t.Fatalf("after the queue: %s", te.status(id))
	}
}

// A request the mount joined (reuse: a person's own) whose last lease was
// revoked, its check-in queued: a reuse checkout that gets it back cancels
// the queued check-in, and if that checkout then fails, the request must
// still be ended as the revoke had committed to, not forgotten as a request
// only joined (nothing would end it).
func TestReuseOfQueuedCheckinFailsThenEnds(t *testing.T) {
	te := newTestBackend(t, withConfig(map[string]interface{}{"max_retries": 0}))
	te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres",
		"ttl": "1h", "max_ttl": "1h", "conflict_option": "reuse"})
	person := te.userClient(pstest.DemoUserSvcVault, "")
	id, _, err := person.CreateRequest(context.Background(), client.RequestInput{
		SystemID: 1, AccountID: pgAccount, AccessType: client.AccessView, DurationMinutes: 120, Reason: "by hand"})
	if err != nil {
		t.Fatal(err)
	}
	lease := te.mustOK(te.credsAs("pg", "entity-1"))
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCheckin, Status: http.StatusServiceUnavailable, Count: 1})
	te.mustRevoke(lease)
	if te.queued(id) == nil {
		t.Fatal("check-in not queued")
	}
	// The reuse checkout gets the request back, then cannot look it up.
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointListRequests, Status: http.StatusServiceUnavailable, Count: 5})
	resp, err := te.credsAs("pg", "entity-2")
	te.mustFail(resp, err, http.StatusBadGateway)
	te.srv.Faults().Clear()
	for _, immediate := range []bool{true, false} {
		if err := te.rollback(immediate); err != nil {
			t.Fatal(err)
		}
	}
	te.drain()
	if te.status(id) != pstest.StatusCheckedIn || te.queued(id) != nil || te.record(id) != nil || te.walCount() != 0 {
		t.Fatalf("request %d: %s, queued %v, record %v, WAL %d; want checked in and nothing left",
			id, te.status(id), te.queued(id), te.record(id), te.walCount())
	}
}

// Failure 5 (Password Safe down): a revoke Password Safe does not take is
// queued and succeeds, so Vault never gives up on it; the periodic func
// checks the request in once Password Safe answers.
func TestRevoke5xxQueued(t *testing.T) {
	te := newTestBackend(t, withConfig(map[string]interface{}{"max_retries": 0}))
	te.writeRole("pg", pgRole)
	resp := te.mustCreds("pg", nil)
	id := requestIDOf(resp)
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCheckin, Status: http.StatusServiceUnavailable})
	if err := te.revoke(resp); err != nil {
		t.Fatalf("revoke while Password Safe fails = %v, want it queued", err)
	}
	q := te.queued(id)
	if te.status(id) != pstest.StatusActive || q == nil || !strings.Contains(q.LastError, "503") {
		t.Fatalf("not queued: %+v", q)
	}
	// The account stays busy until the queue checks the request in; the
	// 409 says so, and not that someone outside the mount made it.
	r, err := te.creds("pg", nil)
	msg := te.mustFail(r, err, http.StatusConflict, "open request is "+strconv.Itoa(id), "check-in, which is queued")
	if strings.Contains(msg, "not made through this mount") {
		t.Fatalf("the 409 disowns the mount's own request: %q", msg)
	}
	te.drain() // still failing: stays Queued, with a later next try
	if q2 := te.queued(id); q2 == nil || q2.Tries != 1 || !q2.NextTry.After(q.NextTry) {
		t.Fatalf("failed retry: %+v", q2)
	}
	te.srv.Faults().Clear()
	te.drain()
	if te.status(id) != pstest.StatusCheckedIn || te.queued(id) != nil {
		t.Fatalf("not checked in once Password Safe answered: %s", te.status(id))
	}
}

func TestRevokeAfterOperatorCheckin(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	resp := te.mustCreds("pg", nil)
	svc := te.userClient(pstest.DemoUserSvcVault, "")
	if err := svc.Checkin(context.Background(), requestIDOf(resp), "operator"); err != nil {
		t.Fatal(err)
	}
	te.mustRevoke(resp) // 404: already released, done
	if te.record(requestIDOf(resp)) != nil {
		t.Fatalf("record left")
	}
}

func TestTimeouts(t *testing.T) {
	te := newTestBackend(t, withConfig(map[string]interface{}{"request_timeout": "1s", "max_retries": 0}))
	te.writeRole("pg", pgRole)

	// Slow credential read: the checkout fails and its request is checked in.
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCredentials, Latency: 1500 * time.Millisecond, Count: 1})
	resp, err := te.creds("pg", nil)
	msg, status := failure(resp, err)
	if status != http.StatusGatewayTimeout && status != http.StatusBadGateway {
		t.Fatalf("status %d: %s", status, msg)
	}
	if len(te.srv.Inspect().ActiveRequests()) != 0 || te.walCount() != 0 {
		t.Fatalf("slow read left active %d WAL %d", len(te.srv.Inspect().ActiveRequests()), te.walCount())
	}

	// Slow POST: the outcome is unknown; the WAL keeps it for rollback.
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCreateRequest, Latency: 1500 * time.Millisecond, Count: 1})
	resp, err = te.creds("pg", nil)
	if _, status := failure(resp, err); status == 0 {
		t.Fatalf("slow POST succeeded")
	}
	if te.walCount() != 1 {
		t.Fatalf("WAL %d", te.walCount())
	}
	if err := te.rollback(true); err != nil {
		t.Fatal(err)
	}
	if te.walCount() != 0 || len(te.srv.Inspect().ActiveRequests()) != 0 {
		t.Fatalf("after rollback: WAL %d active %d", te.walCount(), len(te.srv.Inspect().ActiveRequests()))
	}
	te.mustRevoke(te.mustCreds("pg", nil))
}

// flakyStorage fails Delete of WAL entries while armed.
type flakyStorage struct {
	logical.InmemStorage
	failWALDelete atomic.Bool
}

func (f *flakyStorage) Delete(ctx context.Context, key string) error {
	if f.failWALDelete.Load() && strings.HasPrefix(key, framework.WALPrefix) {
		return errors.New("storage unavailable")
	}
	return f.InmemStorage.Delete(ctx, key)
}

// If the WAL entry cannot be deleted the lease is not handed out (rollback
// would end its request under it): rollback checks the request in instead.
func TestWALDeleteFailureHandsOutNothing(t *testing.T) {
	fs := &flakyStorage{}
	te := newTestBackend(t, withStorage(fs))
	te.writeRole("pg", pgRole)
	fs.failWALDelete.Store(true)
	resp, err := te.creds("pg", nil)
	if _, status := failure(resp, err); status == 0 || (resp != nil && resp.Secret != nil) {
		t.Fatalf("a lease was handed out without its WAL entry deleted")
	}
	fs.failWALDelete.Store(false)
	id := te.srv.Inspect().Requests()[0].ID
	if te.status(id) != pstest.StatusActive || te.walCount() != 1 {
		t.Fatalf("status %s WAL %d", te.status(id), te.walCount())
	}
	if err := te.rollback(true); err != nil {
		t.Fatal(err)
	}
	if te.status(id) != pstest.StatusCheckedIn || te.record(id) != nil || te.walCount() != 0 {
		t.Fatalf("after rollback: %s", te.status(id))
	}
}

// Rollback of a reused request's checkout only drops its own hold.
func TestRollbackKeepsOtherHolders(t *testing.T) {
	fs := &flakyStorage{}
	te := newTestBackend(t, withStorage(fs))
	te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "conflict_option": "reuse"})
	live := te.mustCreds("pg", nil)
	fs.failWALDelete.Store(true)
	resp, err := te.creds("pg", nil)
	if _, status := failure(resp, err); status == 0 {
		t.Fatalf("expected failure")
	}
	fs.failWALDelete.Store(false)
	if err := te.rollback(true); err != nil {
		t.Fatal(err)
	}
	id := requestIDOf(live)
	if te.status(id) != pstest.StatusActive || len(te.holders(id)) != 1 {
		t.Fatalf("rollback broke the live lease: %s", te.status(id))
	}
	te.mustRevoke(live)
	if te.status(id) != pstest.StatusCheckedIn {
		t.Fatalf("not checked in")
	}
}

func TestPerformanceStandbyForwards(t *testing.T) {
	sys := &logical.StaticSystemView{DefaultLeaseTTLVal: time.Hour, MaxLeaseTTLVal: 24 * time.Hour}
	te := newTestBackend(t, withSystemView(sys))
	te.writeRole("pg", pgRole)
	te.srv.Inspect().ResetCalls()
	sys.ReplicationStateVal = consts.ReplicationPerformanceStandby
	for _, r := range []*logical.Request{
		te.req(logical.ReadOperation, "creds/pg", nil),
		te.req(logical.UpdateOperation, "creds/pg", map[string]interface{}{"ttl": "1m"}),
		te.req(logical.UpdateOperation, "roles/pg", map[string]interface{}{"reason": "x"}),
		te.req(logical.DeleteOperation, "roles/pg", nil),
		te.req(logical.UpdateOperation, "config", map[string]interface{}{"verify": false}),
		te.req(logical.DeleteOperation, "config", nil),
	} {
		if _, err := te.do(r); !errors.Is(err, logical.ErrReadOnly) {
			t.Errorf("%s %s on a performance standby: err %v, want ErrReadOnly (forward)", r.Operation, r.Path, err)
		}
	}
	// Reads without side effects are served locally.
	te.mustOK(te.read("roles/pg"))
	te.mustOK(te.read("config"))
	if n := len(te.srv.Inspect().CallCounts()); n != 0 {
		t.Fatalf("upstream calls on a standby: %v", te.srv.Inspect().CallCounts())
	}
	sys.ReplicationStateVal = consts.ReplicationPerformanceSecondary
	if _, err := te.creds("pg", nil); !errors.Is(err, logical.ErrReadOnly) {
		t.Fatalf("creds on a performance secondary: %v", err)
	}
}
