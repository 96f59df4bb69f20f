package backend_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// Regression tests of the lease/request contract, one per failure the
// deterministic simulation (sim_test.go) or a review found. Each failed on
// the engine before the fix.

// countingStorage counts what the engine asks of storage.
type countingStorage struct {
	logical.Storage
	gets, lists, puts, deletes atomic.Int64
	bytes                      atomic.Int64 // written
}

func (c *countingStorage) Get(ctx context.Context, k string) (*logical.StorageEntry, error) {
	c.gets.Add(1)
	return c.Storage.Get(ctx, k)
}

func (c *countingStorage) List(ctx context.Context, p string) ([]string, error) {
	c.lists.Add(1)
	return c.Storage.List(ctx, p)
}

func (c *countingStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	c.puts.Add(1)
	c.bytes.Add(int64(len(e.Key) + len(e.Value)))
	return c.Storage.Put(ctx, e)
}

func (c *countingStorage) Delete(ctx context.Context, k string) error {
	c.deletes.Add(1)
	return c.Storage.Delete(ctx, k)
}

func (c *countingStorage) reset() {
	c.gets.Store(0)
	c.lists.Store(0)
	c.puts.Store(0)
	c.deletes.Store(0)
	c.bytes.Store(0)
}

func (c *countingStorage) ops() int64 {
	return c.gets.Load() + c.lists.Load() + c.puts.Load() + c.deletes.Load()
}

var finReuse = map[string]interface{}{"system_name": "fin-db-01", "account_name": "sa", "conflict_option": "reuse", "ttl": "10m", "max_ttl": "1h"}

// Failure 2: with conflict_option=reuse POST Requests is retried. The first
// attempt created a request (here one waiting for approval) and its answer
// was lost; the retry gets 409. The call's outcome is unknown, so the WAL
// entry must stay, and recovery must end the request once it is approved.
func TestAmbiguousRetryIsUnknown(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("fin-reuse", finReuse)
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCreateRequest, Drop: true, AfterHandler: true, Count: 1})
	resp, err := te.creds("fin-reuse", nil)
	msg := te.mustFail(resp, err, 0)
	reqs := te.srv.Inspect().Requests()
	if len(reqs) != 1 || reqs[0].Status != pstest.StatusPending {
		t.Fatalf("requests: %+v", reqs)
	}
	if te.walCount() != 1 {
		t.Fatalf("the WAL entry was dropped after an ambiguous POST (%q): nothing would end request %d", msg, reqs[0].ID)
	}
	id := reqs[0].ID
	if err := te.userClient(pstest.DemoUserBob, pstest.DemoPasswordBob).Approve(context.Background(), id, ""); err != nil {
		t.Fatal(err)
	}
	if err := te.rollback(true); err != nil {
		t.Fatal(err)
	}
	if te.status(id) != pstest.StatusCheckedIn || te.walCount() != 0 {
		t.Fatalf("after rollback: %s, WAL %d", te.status(id), te.walCount())
	}
}

// A retried POST is handed back (200) the request its own lost attempt
// made, and the GET Requests that would show the request's Reason (its tag)
// fails: the checkout cannot tell its own request from one it joined. It
// must not forget it (nothing would end it until it expires): the WAL
// entry stays, and rollback ends the request once its tag proves it the
// checkout's own. A request the checkout only joined is left to its holder.
func TestReusedOwnRequestLookupFails(t *testing.T) {
	te := newTestBackend(t, withConfig(map[string]interface{}{"max_retries": 1}))
	te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "conflict_option": "reuse"})
	// The first attempt creates the request and its answer is lost; the
	// retry gets it back (200). Then every attempt of GET Requests fails.
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCreateRequest, Drop: true, AfterHandler: true, Count: 1})
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointListRequests, Status: http.StatusInternalServerError, Count: 2})
	resp, err := te.creds("pg", nil)
	te.mustFail(resp, err, http.StatusBadGateway)
	if n := te.srv.Inspect().Calls(pstest.EndpointCreateRequest); n != 2 {
		t.Fatalf("POST Requests made %d calls, want the lost attempt and its retry", n)
	}
	active := te.srv.Inspect().ActiveRequests()
	if len(active) != 1 {
		t.Fatalf("active requests: %+v", active)
	}
	id := active[0].ID
	if te.walCount() != 1 {
		t.Fatalf("request %d, the checkout's own, is active with %d WAL entries: nothing would end it", id, te.walCount())
	}
	if err := te.rollback(true); err != nil {
		t.Fatal(err)
	}
	if te.status(id) != pstest.StatusCheckedIn || te.walCount() != 0 || te.record(id) != nil {
		t.Fatalf("after rollback: request %d %s, WAL %d, record %+v", id, te.status(id), te.walCount(), te.record(id))
	}

	// The same failure on a request another lease holds: rollback lets go
	// of the failed checkout's part and leaves the request to that lease.
	live := te.mustCreds("pg", nil)
	held := requestIDOf(live)
	// Near the request's end, where a joining read must look it up (a
	// hand-over may be due); earlier it takes the expiry on record.
	te.srv.Advance(23*time.Hour + 30*time.Minute)
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointListRequests, Status: http.StatusInternalServerError, Count: 2})
	resp, err = te.creds("pg", nil)
	te.mustFail(resp, err, http.StatusBadGateway)
	if err := te.rollback(true); err != nil {
		t.Fatal(err)
	}
	if te.status(held) != pstest.StatusActive || te.walCount() != 0 {
		t.Fatalf("after rollback: request %d %s, WAL %d", held, te.status(held), te.walCount())
	}
	if rec := te.record(held); rec == nil || rec.Count != 1 {
		t.Fatalf("record of the held request: %+v", rec)
	}
	te.mustRevoke(live)
	if te.status(held) != pstest.StatusCheckedIn {
		t.Fatalf("revoking the last lease left request %d %s", held, te.status(held))
	}
}

// The same hand-back through requests (no wait): the request its own
// lost attempt made is recorded as the caller's pending claim. Nobody
// claims it; when the claim window closes the periodic task must end it,
// not forget it as a request someone else made.
func TestReusedOwnRequestUnclaimedEnded(t *testing.T) {
	te := newTestBackend(t, withConfig(map[string]interface{}{"max_retries": 1}))
	te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "conflict_option": "reuse"})
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCreateRequest, Drop: true, AfterHandler: true, Count: 1})
	te.mustOK(te.do(te.req(logical.UpdateOperation, "requests", map[string]interface{}{"role": "pg"})))
	active := te.srv.Inspect().ActiveRequests()
	if len(active) != 1 || te.srv.Inspect().Calls(pstest.EndpointCreateRequest) != 2 {
		t.Fatalf("active %+v after %d POSTs, want one request handed back to the retry", active, te.srv.Inspect().Calls(pstest.EndpointCreateRequest))
	}
	id := active[0].ID
	te.srv.Advance(te.e.PendingClaimWindow() + time.Minute)
	if err := te.rollback(false); err != nil {
		t.Fatal(err)
	}
	if te.status(id) != pstest.StatusCheckedIn || te.record(id) != nil {
		t.Fatalf("unclaimed request %d, the mount's own, is %s (record %+v)", id, te.status(id), te.record(id))
	}
}

// The client's side of failure 2: any attempt of unknown outcome makes the
// call's outcome unknown, whatever the last attempt said.
func TestClientOutcomeAfterLostAttempt(t *testing.T) {
	te := newTestBackend(t)
	cl := te.userClient(pstest.DemoUserSvcVault, "")
	in := client.RequestInput{SystemID: 3, AccountID: 31, AccessType: client.AccessView, DurationMinutes: 60, ConflictOption: client.ConflictReuse}
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCreateRequest, Drop: true, AfterHandler: true, Count: 1})
	_, _, err := cl.CreateRequest(context.Background(), in)
	if !client.IsConflict(err) || client.OutcomeOf(err) != client.OutcomeUnknown {
		t.Fatalf("err %v: conflict %v, outcome %v; want a 409 of unknown outcome", err, client.IsConflict(err), client.OutcomeOf(err))
	}
	// A plain 409 (no earlier attempt) had no effect.
	_, _, err = cl.CreateRequest(context.Background(), in)
	if !client.IsConflict(err) || client.OutcomeOf(err) != client.OutcomeNone {
		t.Fatalf("err %v: outcome %v, want none", err, client.OutcomeOf(err))
	}
	te.srv.Advance(3 * time.Hour) // the pending request lapses
}

// Failure 3: a checkout whose POST failed without creating anything keeps
// its WAL entry (the outcome was unknown). A request the same run-as user
// makes outside Vault afterwards (the web UI, another Vault) must survive
// the rollback: recovery ends only a request carrying its own tag.
func TestRollbackSparesForeignRequest(t *testing.T) {
	te := newTestBackend(t, withConfig(map[string]interface{}{"max_retries": 0}))
	te.writeRole("app", map[string]interface{}{"system_name": "db-prod-01", "account_name": "app_user"})
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCreateRequest, Status: http.StatusBadGateway, Count: 1})
	resp, err := te.creds("app", nil)
	te.mustFail(resp, err, http.StatusBadGateway)
	if te.walCount() != 1 {
		t.Fatalf("WAL %d, want the entry of the unknown outcome", te.walCount())
	}
	person := te.userClient(pstest.DemoUserSvcVault, "")
	id, created, err := person.CreateRequest(context.Background(), client.RequestInput{
		SystemID: 1, AccountID: 12, AccessType: client.AccessView, DurationMinutes: 60, Reason: "fixing prod by hand"})
	if err != nil || !created {
		t.Fatal(err)
	}
	if err := te.rollback(true); err != nil {
		t.Fatal(err)
	}
	if te.status(id) != pstest.StatusActive {
		t.Fatalf("rollback ended request %d, made outside Vault: %s", id, te.status(id))
	}
	if te.walCount() != 0 {
		t.Fatalf("WAL %d after rollback", te.walCount())
	}
	if err := person.Checkin(context.Background(), id, "done"); err != nil {
		t.Fatal(err)
	}
}

// Failure 9: rollback costs the same per WAL entry however many there are
// (it used to list and read every entry for each one: 200 entries, 20,100
// reads), and a POST that provably never reached Password Safe leaves no
// entry at all.
func TestRollbackLinearAndDefiniteWhenUnsent(t *testing.T) {
	cs := &countingStorage{Storage: &logical.InmemStorage{}}
	te := newTestBackend(t, withStorage(cs), withConfig(map[string]interface{}{"max_retries": 0}))
	roles := te.loadRoles(40, nil)
	const n = 200
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCreateRequest, Status: http.StatusServiceUnavailable, Count: n})
	for i := 0; i < n; i++ {
		resp, err := te.creds(roles[i%len(roles)], nil)
		te.mustFail(resp, err, http.StatusBadGateway)
	}
	if te.walCount() != n {
		t.Fatalf("WAL %d, want %d", te.walCount(), n)
	}
	cs.reset()
	if err := te.rollback(true); err != nil {
		t.Fatal(err)
	}
	if te.walCount() != 0 {
		t.Fatalf("WAL %d left", te.walCount())
	}
	t.Logf("rollback of %d WAL entries: %d storage reads (gets and lists), %d GET Requests", n,
		cs.gets.Load()+cs.lists.Load(), te.srv.Inspect().Calls(pstest.EndpointListRequests))
	if got := cs.gets.Load() + cs.lists.Load(); got > 4*n {
		t.Fatalf("rollback of %d entries made %d storage reads, want at most %d", n, got, 4*n)
	}

	// Connection refused: nothing was sent, nothing to roll back.
	te.mustOK(te.write("config", map[string]interface{}{"url": "http://127.0.0.1:1/BeyondTrust/api/public/v3", "verify": false}))
	resp, err := te.creds(roles[0], nil)
	te.mustFail(resp, err, http.StatusBadGateway, "unreachable")
	if te.walCount() != 0 {
		t.Fatalf("a POST that never left kept a WAL entry")
	}
	te.mustOK(te.write("config", map[string]interface{}{"url": te.srv.URL}))
}

// Failure 6: a lease whose request has ended cannot be renewed, whether it
// ended through this mount (an operator's check-in), by a hand-over, or in
// Password Safe itself.
func TestRenewAfterEnd(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	te.writeRole("shared", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "ttl": "15m", "max_ttl": "1h", "conflict_option": "reuse"})
	cases := []struct {
		name string
		end  func(t *testing.T, lease *logical.Response) *logical.Response
		want string
	}{
		{"operator check-in through the mount", func(t *testing.T, lease *logical.Response) *logical.Response {
			te.mustOK(te.write(fmt.Sprintf("requests/%d/checkin", requestIDOf(lease)), nil))
			return nil
		}, "ended early"},
		{"check-in by a person in Password Safe", func(t *testing.T, lease *logical.Response) *logical.Response {
			if err := te.userClient(pstest.DemoUserSvcVault, "").Checkin(context.Background(), requestIDOf(lease), "by hand"); err != nil {
				t.Fatal(err)
			}
			return nil
		}, "ended in Password Safe"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lease := te.mustCreds("pg", nil)
			tc.end(t, lease)
			r, err := te.renew(lease, 0)
			te.sub(t).mustFail(r, err, http.StatusBadRequest, "cannot renew", tc.want, "read a new credential")
			te.sub(t).mustRevoke(lease)
		})
	}
	t.Run("same-caller hand-over", func(t *testing.T) {
		old := te.mustCreds("shared", nil)
		te.srv.Advance(55 * time.Minute)
		fresh := te.mustCreds("shared", nil)
		if requestIDOf(fresh) == requestIDOf(old) {
			t.Fatal("no hand-over")
		}
		r, err := te.renew(old, 0)
		te.sub(t).mustFail(r, err, http.StatusBadRequest, "cannot renew", "read a new credential")
		te.sub(t).mustRevoke(old)
		te.sub(t).mustRevoke(fresh)
	})
}

// Failure 7: a caller with neither entity nor token accessor (a batch
// token) cannot be told apart from another: it is refused, before any
// upstream call.
func TestBatchTokenRefused(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	te.writeRole("fin", map[string]interface{}{"system_name": "fin-db-01", "account_name": "sa", "approval_wait": "0s"})
	id := requestIDOf(te.submit("", "fin", nil))
	te.srv.Inspect().ResetCalls()
	for _, r := range []*logical.Request{
		te.req(logical.ReadOperation, "creds/pg", nil),
		te.req(logical.UpdateOperation, "requests", map[string]interface{}{"role": "fin"}),
		te.req(logical.ReadOperation, fmt.Sprintf("requests/%d/creds", id), nil),
	} {
		r.ClientTokenAccessor = ""
		resp, err := te.do(r)
		te.mustFail(resp, err, http.StatusForbidden, "batch token")
	}
	if n := len(te.srv.Inspect().CallCounts()); n != 0 {
		t.Fatalf("refused calls reached Password Safe: %v", te.srv.Inspect().CallCounts())
	}
	if err := te.userClient(pstest.DemoUserBob, pstest.DemoPasswordBob).Deny(context.Background(), id, ""); err != nil {
		t.Fatal(err)
	}
	if err := te.rollback(false); err != nil {
		t.Fatal(err)
	}
}

// Failure 8: each holder of a shared request has a key of its own, so a
// checkout and a revoke write the same whatever the number of holders (one
// record of 2,000 holders used to be rewritten whole, 380 KB, every time).
func TestReuseStorageFlat(t *testing.T) {
	cs := &countingStorage{Storage: &logical.InmemStorage{}}
	te := newTestBackend(t, withStorage(cs))
	te.writeRole("shared", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "conflict_option": "reuse", "ttl": "1h", "max_ttl": "4h"})
	measure := func() (ops, bytes int64) {
		cs.reset()
		l := te.mustCreds("shared", nil)
		te.mustRevoke(l)
		return cs.ops(), cs.bytes.Load()
	}
	first := te.mustCreds("shared", nil) // one HolderRec stays throughout
	ops1, bytes1 := measure()
	var held []*logical.Response
	for i := 0; i < 2000; i++ {
		held = append(held, te.mustCreds("shared", nil))
	}
	ops2, bytes2 := measure()
	t.Logf("storage per checkout+revoke: %d ops, %d bytes with 1 other holder; %d ops, %d bytes with 2001", ops1, bytes1, ops2, bytes2)
	if ops2 != ops1 || bytes2 > bytes1+16 {
		t.Fatalf("storage work grows with holders: %d ops / %d bytes, then %d ops / %d bytes", ops1, bytes1, ops2, bytes2)
	}
	for _, l := range held {
		te.mustRevoke(l)
	}
	te.mustRevoke(first)
	if st := te.status(requestIDOf(first)); st != pstest.StatusCheckedIn {
		t.Fatalf("shared request %s after its last lease", st)
	}
}

// Failure 4: a config change that would send live leases' check-ins
// elsewhere is refused while requests are held; harmless changes pass.
func TestConfigChangeRefusedWhileHeld(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	lease := te.mustCreds("pg", nil)
	for _, tc := range []struct {
		name string
		data map[string]interface{}
	}{
		{"url", map[string]interface{}{"url": strings.Replace(te.srv.URL, "127.0.0.1", "localhost", 1)}},
		{"run_as", map[string]interface{}{"run_as": pstest.DemoUserAlice}},
		{"sign-in method", map[string]interface{}{"api_key": "", "run_as": "", "client_id": pstest.DemoClientID, "client_secret": pstest.DemoClientSecret}},
	} {
		resp, err := te.write("config", tc.data)
		te.mustFail(resp, err, http.StatusConflict, "strand", "vault lease revoke -prefix")
	}
	resp, err := te.do(te.req(logical.DeleteOperation, "config", nil))
	te.mustFail(resp, err, http.StatusConflict, "cannot delete the config")
	// Rotating the API key or tuning timeouts leaves the check-ins where they are.
	te.mustOK(te.write("config", map[string]interface{}{"api_key": pstest.DemoAPIKey, "request_timeout": 20, "max_retries": 2}))
	te.mustRevoke(lease)
	if st := te.status(requestIDOf(lease)); st != pstest.StatusCheckedIn {
		t.Fatalf("request %s", st)
	}
	te.mustOK(te.write("config", map[string]interface{}{"url": strings.Replace(te.srv.URL, "127.0.0.1", "localhost", 1)}))
	te.mustOK(te.do(te.req(logical.DeleteOperation, "config", nil)))
}

// Failure 13: the WAL and the lease state are local to the cluster, as in
// every HashiCorp plugin with a WAL: a performance secondary never rolls
// back (or checks in) the primary's checkouts.
func TestLeaseStateIsLocal(t *testing.T) {
	te := newTestBackend(t)
	local := map[string]bool{}
	for _, p := range te.b.Backend.PathsSpecial.LocalStorage {
		local[p] = true
	}
	for _, p := range []string{"wal/", RecordPrefix, HolderPrefix, PendingPrefix, QueuePrefix} {
		if !local[p] {
			t.Errorf("%s is not in LocalStorage", p)
		}
	}
}
