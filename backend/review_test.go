package backend_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	. "github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// armStorage arms a one-shot pause once the holders of a request are listed.
type armStorage struct {
	logical.Storage
	prefix string
	armed  atomic.Bool
	listed atomic.Bool
}

func (a *armStorage) List(ctx context.Context, p string) ([]string, error) {
	if a.armed.Load() && p == a.prefix {
		a.listed.Store(true)
	}
	return a.Storage.List(ctx, p)
}

// Regression (review): reconcileOne reads the holders under the lock, lets go of it,
// and then releases the "expired" pending holders without checking that they
// are still pending. A claim in between turns the holder into a lease; the
// periodic func then removes that lease's holder and checks the request in
// under the live lease (promise 2).
func TestReconcileSparesJustClaimedLease(t *testing.T) {
	st := &armStorage{Storage: &logical.InmemStorage{}}
	te := newTestBackend(t, withStorage(st))
	te.writeRole("fin", withWait("0s"))
	id := requestIDOf(te.mustOK(te.credsAs("fin", "entity-1")))
	st.prefix = HoldersKey(id)
	if err := te.userClient(pstest.DemoUserBob, pstest.DemoPasswordBob).Approve(context.Background(), id, "ok"); err != nil {
		t.Fatal(err)
	}
	// The claim window has just run out.
	te.srv.Advance(te.e.PendingClaimWindow() + time.Second)

	paused, resume := make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	clock := te.srv.Now
	te.e.SetClock(func() time.Time {
		if st.listed.Load() && once.CompareAndSwap(false, true) {
			close(paused)
			<-resume
		}
		return clock()
	})
	st.armed.Store(true)
	done := make(chan error, 1)
	go func() { done <- te.e.Periodic(context.Background(), te.s) }()
	<-paused // the periodic func has read the holders (still pending) and let go of the lock

	lease := te.mustOK(te.claim(id, "entity-1")) // the caller claims in time
	if lease.Secret == nil {
		t.Fatalf("no lease: %#v", lease)
	}
	close(resume)
	if err := <-done; err != nil {
		t.Logf("periodic: %v", err)
	}
	if s := te.status(id); s != pstest.StatusActive {
		t.Errorf("request %d is %s right after it was claimed, under a live lease (holders now %d)", id, s, len(te.holders(id)))
	}
	r, err := te.renew(lease, 0)
	if err != nil || (r != nil && r.IsError()) {
		t.Errorf("the fresh lease cannot be renewed: %v %v", err, r)
	}
	_ = te.revoke(lease)
}

// gate pauses the first POST Requests with ConflictOption renew.
type gate struct {
	rt      http.RoundTripper
	armed   atomic.Bool
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

func (g *gate) RoundTrip(r *http.Request) (*http.Response, error) {
	if g.armed.Load() && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/Requests") && r.Body != nil {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(bytes.ToLower(body), []byte(`"conflictoption":"renew"`)) {
			hit := false
			g.once.Do(func() { hit = true })
			if hit {
				close(g.arrived)
				<-g.release
			}
		}
	}
	return g.rt.RoundTrip(r)
}

// Regression (review): the Agent hand-over POSTs conflict_option=renew holding only
// the account's read lock, after othersAreCaller looked at the holders. A
// concurrent reuse checkout by another entity joins the same request in
// between and gets a lease; the renew then ends the request under it.
func TestHandoverSparesAnotherCallersJoin(t *testing.T) {
	te := newTestBackend(t)
	g := &gate{rt: http.DefaultTransport, arrived: make(chan struct{}), release: make(chan struct{})}
	te.e.SetClientOptions(func(c *client.Config) { c.HTTPClient = &http.Client{Transport: g} })
	te.writeRole("agent", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "ttl": "15m", "max_ttl": "1h", "conflict_option": "reuse"})
	old := te.mustOK(te.credsAs("agent", "agent-entity"))
	rid := requestIDOf(old)
	te.srv.Advance(55 * time.Minute) // 5 minutes left: the Agent's next read hands over

	g.armed.Store(true)
	type res struct {
		resp *logical.Response
		err  error
	}
	agent := make(chan res, 1)
	go func() { r, err := te.credsAs("agent", "agent-entity"); agent <- res{r, err} }()
	<-g.arrived // the hand-over's renew POST is on its way

	// Another entity reads the same role meanwhile: its reuse POST is handed
	// the old request, and its hold waits for the hand-over.
	type otherRes struct {
		resp *logical.Response
		err  error
	}
	otherc := make(chan otherRes, 1)
	go func() { r, err := te.credsAs("agent", "entity-b"); otherc <- otherRes{r, err} }()
	time.Sleep(300 * time.Millisecond)
	close(g.release)
	a := <-agent
	te.mustOK(a.resp, a.err)
	o := <-otherc
	if requestIDOf(a.resp) == rid || te.status(rid) != pstest.StatusCheckedIn {
		t.Fatalf("no hand-over: agent on %d, old request %s", requestIDOf(a.resp), te.status(rid))
	}
	// entity-b is refused (the request it was handed was just replaced) or
	// holds a live request; never a lease on the ended one.
	if o.err == nil && o.resp != nil && o.resp.Secret != nil {
		if id := requestIDOf(o.resp); id == rid || te.status(id) != pstest.StatusActive {
			t.Fatalf("entity-b got a lease on request %d, which is %s", id, te.status(id))
		}
		_ = te.revoke(o.resp)
	} else {
		te.mustFail(o.resp, o.err, http.StatusConflict, "replaced")
	}
	_ = te.revoke(old)
	_ = te.revoke(a.resp)
}

// faultStorage fails the next operation matching op and key prefix.
type faultStorage struct {
	logical.Storage
	mu     sync.Mutex
	op     string // "put" or "delete"
	prefix string
	n      int
}

func (f *faultStorage) hit(op, key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n > 0 && f.op == op && strings.HasPrefix(key, f.prefix) {
		f.n--
		return true
	}
	return false
}

func (f *faultStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	if f.hit("put", e.Key) {
		return io.ErrUnexpectedEOF
	}
	return f.Storage.Put(ctx, e)
}

func (f *faultStorage) Delete(ctx context.Context, k string) error {
	if f.hit("delete", k) {
		return io.ErrUnexpectedEOF
	}
	return f.Storage.Delete(ctx, k)
}

// Regression (review): a release of an unclaimed pending hold on a request this mount
// JOINED (reuse, not created) is cut short after the holder key goes and
// before the record goes (crash, or a storage error). The next periodic
// tick's reconcileOne finds the record with no holders and "finishes" it
// with endIfUnheld, which checks the request in although rec.Created is
// false: a person's request (same run-as user) is ended (promise 2).
func TestReconcileSparesJoinedForeignRequest(t *testing.T) {
	fs := &faultStorage{Storage: &logical.InmemStorage{}}
	te := newTestBackend(t, withStorage(fs))
	te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "conflict_option": "reuse"})
	person := te.userClient(pstest.DemoUserSvcVault, "")
	id, created, err := person.CreateRequest(context.Background(), client.RequestInput{
		SystemID: 1, AccountID: 11, AccessType: client.AccessView, DurationMinutes: 600, Reason: "by hand"})
	if err != nil || !created {
		t.Fatal(err)
	}
	r := te.req(logical.UpdateOperation, "requests", map[string]interface{}{"role": "pg"})
	r.EntityID = "entity-1"
	resp := te.mustOK(te.do(r))
	if requestIDOf(resp) != id || te.record(id) == nil || te.record(id).Created {
		t.Fatalf("setup: %#v %+v", resp.Data, te.record(id))
	}
	te.srv.Advance(te.e.PendingClaimWindow() + time.Minute) // never claimed
	fs.mu.Lock()
	fs.op, fs.prefix, fs.n = "delete", RecordKey(id), 1 // the release is cut before the Record goes
	fs.mu.Unlock()
	t.Logf("tick 1: %v", te.e.Periodic(context.Background(), te.s))
	t.Logf("after tick 1: %s, record %+v, holders %d", te.status(id), te.record(id), len(te.holders(id)))
	t.Logf("tick 2: %v", te.e.Periodic(context.Background(), te.s))
	if s := te.status(id); s != pstest.StatusActive {
		t.Errorf("request %d, made outside Vault and only joined by this mount, is %s", id, s)
	} else {
		_ = person.Checkin(context.Background(), id, "done")
	}
}

// Regression (review): a created request whose hold cannot be stored (storage error on
// the holder key) goes to fail -> release, which finds no record, "deletes
// the holder key" and reports success; the WAL entry is then deleted. The
// request stays active upstream with no record, WAL entry or queue entry.
func TestHoldStorageErrorEndsRequest(t *testing.T) {
	fs := &faultStorage{Storage: &logical.InmemStorage{}}
	te := newTestBackend(t, withStorage(fs))
	te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres"})
	fs.mu.Lock()
	fs.op, fs.prefix, fs.n = "put", HolderPrefix, 1
	fs.mu.Unlock()
	resp, err := te.creds("pg", nil)
	t.Logf("creds: %v %v", err, resp)
	t.Logf("WAL %d, active upstream %d", te.walCount(), len(te.srv.Inspect().ActiveRequests()))
	// newTestBackend's cleanup (assertNoLeak) reports the leak.
}

// refusing answers every call with "connection refused" while down.
type refusing struct {
	rt       http.RoundTripper
	down     atomic.Bool
	attempts atomic.Int64
}

func (r *refusing) RoundTrip(q *http.Request) (*http.Response, error) {
	if r.down.Load() {
		r.attempts.Add(1)
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	return r.rt.RoundTrip(q)
}

// Regression (review): README: "a pass stops at the first check-in Password Safe cannot
// be reached for, so an outage costs one failed call per minute, not one per
// queued request". retryQueued's "down" is OutcomeOf(err)==Unknown (twice);
// a refused connection, a DNS failure or a failed sign-in is ErrNotSent,
// i.e. OutcomeNone, so the pass goes on and tries every queued check-in.
func TestQueuePassStopsWhenUnreachable(t *testing.T) {
	te := newTestBackend(t, withConfig(map[string]interface{}{"max_retries": 0}))
	rt := &refusing{rt: http.DefaultTransport}
	te.e.SetClientOptions(func(c *client.Config) { c.HTTPClient = &http.Client{Transport: rt} })
	var leases []*logical.Response
	for i, acct := range []string{"postgres", "app_user"} {
		te.writeRole(fmt.Sprintf("r%d", i), map[string]interface{}{"system_name": "db-prod-01", "account_name": acct})
		leases = append(leases, te.mustCreds(fmt.Sprintf("r%d", i), nil))
	}
	rt.down.Store(true)
	for _, l := range leases {
		te.mustRevoke(l) // Queued
	}
	keys, _ := te.s.List(context.Background(), QueuePrefix)
	rt.attempts.Store(0)
	te.srv.Advance(QueueBackoffCap + time.Second)
	_ = te.e.Periodic(context.Background(), te.s)
	t.Logf("queued %d, connection attempts in one pass while unreachable: %d", len(keys), rt.attempts.Load())
	if rt.attempts.Load() > 1 {
		t.Errorf("the pass did not stop at the first unreachable check-in (%d attempts for %d entries)", rt.attempts.Load(), len(keys))
	}
	rt.down.Store(false)
	te.drain()
}
