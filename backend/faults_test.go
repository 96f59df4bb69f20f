package backend_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// Fault tests: the simulator's fault injection (5xx bursts, latency beyond
// request_timeout, dropped connections, mass session expiry, a long outage,
// lost answers) under concurrent load, through the backend's HandleRequest.
// For each: what the caller sees (a clear 5xx/504 error, never a hang), and
// at the end the engine and Password Safe agree (assertSettled): no active
// upstream request without a live lease, no record whose request is gone,
// no WAL entry left; the log holds no secret (newTestBackend's cleanup).

// hangBound is far above any legitimate duration of one call in these
// tests, and far below what a call without working timeouts would take
// against the latencies injected (a minute): exceeding it means a hang.
const hangBound = 30 * time.Second

// loadWorld is the demo world with n more auto-approve accounts on systems
// 1000.. (account ID system*10+1), for load beyond the 40 load-NN accounts.
func loadWorld(n int) *pstest.World {
	w := pstest.DemoWorld()
	for i := 0; i < n; i++ {
		id := 1000 + i
		w.Systems = append(w.Systems, pstest.System{ID: id, Name: fmt.Sprintf("xload-%04d", i), Accounts: []pstest.Account{{
			ID: id*10 + 1, Name: "svc", Password: fmt.Sprintf("Xload-%04d-Initial!", i), MaxReleaseMinutes: 10080,
			Policy: pstest.Policy{Requestors: []string{pstest.DemoUserSvcVault}},
		}}})
	}
	return w
}

func withWorld(w *pstest.World) opt { return func(o *testOpts) { o.world = w } }

// loadRoles writes n roles on the load-NN accounts (n <= 40) or, past 40,
// on loadWorld's extra accounts, by ID (one lookup each), with extra fields.
func (te *testEnv) loadRoles(n int, extra map[string]interface{}) []string {
	te.t.Helper()
	names := make([]string, n)
	for i := range names {
		sys := 100 + i
		if i >= 40 {
			sys = 1000 + i - 40
		}
		data := map[string]interface{}{"system_id": sys, "account_id": sys*10 + 1}
		for k, v := range extra {
			data[k] = v
		}
		names[i] = fmt.Sprintf("load-%03d", i)
		te.writeRole(names[i], data)
	}
	return names
}

// leaseSet is the live leases a test holds, by request ID (several leases
// may share a request with conflict_option=reuse).
type leaseSet struct {
	mu sync.Mutex
	m  map[int][]*logical.Response
}

func newLeaseSet() *leaseSet { return &leaseSet{m: map[int][]*logical.Response{}} }

func (l *leaseSet) add(r *logical.Response) {
	l.mu.Lock()
	defer l.mu.Unlock()
	id := requestIDOf(r)
	l.m[id] = append(l.m[id], r)
}

func (l *leaseSet) all() []*logical.Response {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*logical.Response
	for _, rs := range l.m {
		out = append(out, rs...)
	}
	return out
}

func (l *leaseSet) remove(r *logical.Response) {
	l.mu.Lock()
	defer l.mu.Unlock()
	id := requestIDOf(r)
	rs := l.m[id]
	for i := range rs {
		if rs[i] == r {
			rs = append(rs[:i], rs[i+1:]...)
			break
		}
	}
	if len(rs) == 0 {
		delete(l.m, id)
	} else {
		l.m[id] = rs
	}
}

func (l *leaseSet) ids() map[int]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int]bool{}
	for id := range l.m {
		out[id] = true
	}
	return out
}

// timed runs f and fails the test if it takes longer than hangBound (the
// call still returns; this only names a hang).
func timed(t testing.TB, what string, f func()) time.Duration {
	t.Helper()
	start := time.Now()
	f()
	d := time.Since(start)
	if d > hangBound {
		t.Errorf("%s took %s: a hang, not a timely error", what, d)
	}
	return d
}

// clearFailure asserts a failed call is what a Vault client should see
// from an upstream fault: a 5xx (502 or 504) or 409 naming Password Safe,
// never a bare 500.
func clearFailure(t testing.TB, what string, resp *logical.Response, err error) int {
	t.Helper()
	status, msg := outcome(resp, err)
	switch {
	case status == http.StatusOK:
	case status == http.StatusBadGateway || status == http.StatusGatewayTimeout:
		if !strings.Contains(msg, "Password Safe") {
			t.Errorf("%s: %d without naming Password Safe: %q", what, status, msg)
		}
	default:
		t.Errorf("%s: status %d (%q); an upstream fault must be a 502 or 504", what, status, msg)
	}
	return status
}

// revokeAll revokes every lease in ls, retrying each up to tries times (as
// Vault's expiration manager does), and returns how many failed every try.
func (te *testEnv) revokeAll(t testing.TB, ls *leaseSet, tries int) int {
	t.Helper()
	failed := 0
	for _, r := range ls.all() {
		var err error
		for i := 0; i < tries; i++ {
			timed(t, "revoke", func() { err = te.revoke(r) })
			if err == nil {
				ls.remove(r)
				break
			}
		}
		if err != nil {
			failed++
		}
	}
	return failed
}

// assertSettled: Password Safe and the engine agree with the leases the
// test still holds (live). Every active upstream request backs a live
// lease; every record names a request that is active upstream and held by
// a live lease; no WAL entry is left.
func (te *testEnv) assertSettled(t testing.TB, live map[int]bool) {
	t.Helper()
	ctx := context.Background()
	if n := te.walCount(); n != 0 {
		t.Errorf("%d WAL entries left", n)
	}
	if q, err := te.s.List(ctx, QueuePrefix); err != nil || len(q) != 0 {
		t.Errorf("queued check-ins left: %v %v", q, err)
	}
	for _, r := range te.srv.Inspect().ActiveRequests() {
		if !live[r.ID] {
			t.Errorf("LEAK: request %d (account %d) is active upstream without a live lease", r.ID, r.AccountID)
		}
	}
	keys, err := te.s.List(ctx, RecordPrefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		id, err := strconv.Atoi(k)
		if err != nil {
			t.Errorf("odd record key %q", k)
			continue
		}
		if te.status(id) != pstest.StatusActive {
			t.Errorf("record of request %d, which is %s upstream", id, te.status(id))
		}
		if !live[id] {
			t.Errorf("record of request %d, which no live lease holds", id)
		}
	}
	for id := range live {
		if te.status(id) != pstest.StatusActive {
			t.Errorf("live lease on request %d, which is %s upstream", id, te.status(id))
		}
	}
}

// parallel runs f(i) for i in [0,n) on n goroutines and waits.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(i)
		}()
	}
	wg.Wait()
}

func TestFault5xxBurstDuringCheckout(t *testing.T) {
	te := newTestBackend(t, withConfig(map[string]interface{}{"max_retries": 2}))
	roles := te.loadRoles(16, nil)
	// POST Requests is not repeated after a 5xx (it may have created a
	// request); GET Credentials is, so a burst longer than the retries fails
	// some checkouts after their request exists.
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCreateRequest, Status: http.StatusServiceUnavailable, Count: 5})
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCredentials, Status: http.StatusBadGateway, Count: 9})
	live := newLeaseSet()
	var failed atomic.Int32
	parallel(len(roles), func(i int) {
		var resp *logical.Response
		var err error
		timed(t, "checkout", func() { resp, err = te.creds(roles[i], nil) })
		if clearFailure(t, "checkout in a 5xx burst", resp, err) != http.StatusOK {
			failed.Add(1)
			return
		}
		live.add(resp)
	})
	if failed.Load() == 0 || len(live.ids()) == 0 {
		t.Fatalf("the burst should fail some checkouts and spare others: %d failed, %d live", failed.Load(), len(live.ids()))
	}
	// Failed POSTs left WAL entries (the outcome was unknown); rollback
	// finds nothing to check in for them and drops them.
	if err := te.rollback(true); err != nil {
		t.Fatal(err)
	}
	te.assertSettled(t, live.ids())
	if n := te.revokeAll(t, live, 1); n != 0 {
		t.Fatalf("%d revokes failed after the burst", n)
	}
	te.assertSettled(t, nil)
}

func TestFault5xxBurstDuringCheckin(t *testing.T) {
	te := newTestBackend(t, withConfig(map[string]interface{}{"max_retries": 1}))
	roles := te.loadRoles(8, nil)
	live := newLeaseSet()
	for _, r := range roles {
		live.add(te.mustCreds(r, nil))
	}
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCheckin, Status: http.StatusServiceUnavailable, Rate: 1})
	// Every revoke succeeds for Vault: the check-in is queued, and none
	// loses track of its request.
	for _, r := range live.all() {
		var err error
		timed(t, "revoke", func() { err = te.revoke(r) })
		if err != nil {
			t.Fatalf("revoke during a check-in outage = %v, want it queued", err)
		}
		if q := te.queued(requestIDOf(r)); q == nil || !strings.Contains(q.LastError, "HTTP 503") {
			t.Fatalf("check-in of request %d not queued: %+v", requestIDOf(r), q)
		}
	}
	if n := len(te.srv.Inspect().ActiveRequests()); n != len(roles) {
		t.Fatalf("active upstream = %d, want %d", n, len(roles))
	}
	te.srv.Faults().Clear()
	te.drain()
	te.assertSettled(t, nil)
}

func TestFaultSlowUpstreamBeyondTimeout(t *testing.T) {
	te := newTestBackend(t, withConfig(map[string]interface{}{"request_timeout": "1s", "max_retries": 1}))
	roles := te.loadRoles(2, nil)
	// A minute per answer: without a working timeout every call below
	// would take at least that long.
	slow := func(ep string) {
		te.srv.Faults().Clear()
		te.srv.Faults().Inject(pstest.Fault{Endpoint: ep, Latency: time.Minute, Rate: 1})
	}
	vaultCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), 90*time.Second) // Vault's max_request_duration
	}

	for _, ep := range []string{pstest.EndpointCredentials, pstest.EndpointCreateRequest} {
		slow(ep)
		ctx, cancel := vaultCtx()
		var resp *logical.Response
		var err error
		timed(t, "checkout against a slow "+ep, func() {
			resp, err = te.b.HandleRequest(ctx, te.req(logical.ReadOperation, "creds/"+roles[0], nil))
		})
		cancel()
		te.remember(resp)
		if status, msg := outcome(resp, err); status != http.StatusGatewayTimeout {
			t.Fatalf("slow %s: status %d (%q), want 504", ep, status, msg)
		}
		te.srv.Faults().Clear()
		if err := te.rollback(true); err != nil { // the slow POST's outcome was unknown
			t.Fatal(err)
		}
		te.assertSettled(t, nil)
	}

	// A slow check-in: revoke ends in time with the check-in queued, which
	// lands once Password Safe is fast again.
	lease := te.mustCreds(roles[1], nil)
	slow(pstest.EndpointCheckin)
	var err error
	timed(t, "revoke against a slow check-in", func() { err = te.revoke(lease) })
	if q := te.queued(requestIDOf(lease)); err != nil || q == nil || !strings.Contains(q.LastError, "deadline") {
		t.Fatalf("revoke against a slow check-in = %v, queued %+v; want it queued after the deadline", err, q)
	}
	te.srv.Faults().Clear()
	te.drain()
	te.assertSettled(t, nil)

	// Vault's own request deadline, shorter than request_timeout, also ends
	// the call: the context is honoured all the way down.
	te.mustOK(te.write("config", map[string]interface{}{"request_timeout": "30s"}))
	slow(pstest.EndpointCredentials)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	var resp *logical.Response
	timed(t, "checkout with a short Vault deadline", func() {
		resp, err = te.b.HandleRequest(ctx, te.req(logical.ReadOperation, "creds/"+roles[0], nil))
	})
	cancel()
	te.remember(resp)
	if status, _ := outcome(resp, err); status == http.StatusOK {
		t.Fatalf("checkout succeeded against a slow upstream")
	}
	te.srv.Faults().Clear()
	// The checkout's own clean-up could not run on the expired context: the
	// WAL entry (and record) let rollback finish the job.
	if err := te.rollback(true); err != nil {
		t.Fatal(err)
	}
	te.assertSettled(t, nil)
}

func TestFaultDroppedConnections(t *testing.T) {
	te := newTestBackend(t, withConfig(map[string]interface{}{"max_retries": 3}))
	roles := te.loadRoles(16, nil)
	// Connections dropped before the server acted (any endpoint) and after
	// it acted (the answer to POST Requests lost).
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCreateRequest, Drop: true, AfterHandler: true, Rate: 0.2})
	te.srv.Faults().Inject(pstest.Fault{Drop: true, Rate: 0.2})
	live := newLeaseSet()
	var ok, failed, queued atomic.Int32
	parallel(len(roles), func(i int) {
		for round := 0; round < 3; round++ {
			var resp *logical.Response
			var err error
			timed(t, "checkout", func() { resp, err = te.creds(roles[i], nil) })
			if clearFailure(t, "checkout over a dropping network", resp, err) != http.StatusOK {
				failed.Add(1)
				// A lost POST answer leaves a request the WAL covers; this
				// account stays busy until rollback, so stop here.
				return
			}
			ok.Add(1)
			live.add(resp)
			var rerr error
			for try := 0; try < 6; try++ {
				if rerr = te.revoke(resp); rerr == nil {
					live.remove(resp)
					break
				}
			}
			if rerr != nil {
				return // the lease still holds the account
			}
			if te.queued(requestIDOf(resp)) != nil {
				// Every attempt of the check-in was dropped: the revoke
				// succeeded into the check-in queue, and the request stays
				// open (the account busy: a checkout would rightly get a
				// 409) until the queue drains it below.
				queued.Add(1)
				return
			}
		}
	})
	t.Logf("checkouts: %d ok, %d failed; %d check-ins queued", ok.Load(), failed.Load(), queued.Load())
	te.srv.Faults().Clear()
	if n := te.revokeAll(t, live, 3); n != 0 {
		t.Fatalf("%d revokes failed on a healthy network", n)
	}
	if err := te.rollback(true); err != nil {
		t.Fatal(err)
	}
	// A queued check-in waits out its backoff (by the engine's clock, the
	// simulator's): let it pass, so the queue drains on a healthy network.
	te.drain()
	te.assertSettled(t, nil)
}

func TestFaultSessionsExpireUnderLoad(t *testing.T) {
	const workers, rounds = 64, 4
	te := newTestBackend(t, withWorld(loadWorld(workers-40)))
	roles := te.loadRoles(workers, nil)
	signInsBefore := te.srv.Inspect().Calls(pstest.EndpointSignAppin)
	var barrier sync.WaitGroup
	barrier.Add(workers)
	expired := make(chan struct{})
	go func() {
		barrier.Wait()
		te.srv.Edit().ExpireSessions()
		close(expired)
	}()
	var errs atomic.Int32
	parallel(workers, func(i int) {
		for round := 0; round < rounds; round++ {
			if round == 1 {
				barrier.Done()
				<-expired // every live session now answers 401
			}
			var resp *logical.Response
			var err error
			timed(t, "checkout", func() { resp, err = te.creds(roles[i], nil) })
			if status, msg := outcome(resp, err); status != http.StatusOK {
				errs.Add(1)
				t.Errorf("checkout after mass session expiry: %d %q", status, msg)
				continue
			}
			if err := te.revoke(resp); err != nil {
				errs.Add(1)
				t.Errorf("revoke after mass session expiry: %v", err)
			}
		}
	})
	if errs.Load() != 0 {
		t.FailNow()
	}
	// 64 callers saw the same session rejected at once: one sign-in serves
	// them all (the client shares one sign-in per rejected generation).
	if n := te.srv.Inspect().Calls(pstest.EndpointSignAppin) - signInsBefore; n != 1 {
		t.Errorf("sign-ins after the mass expiry = %d, want 1", n)
	}
	te.assertSettled(t, nil)
}

// Password Safe down for longer than Vault retries a revoke: Vault never
// has to give up (each revoke succeeds once its check-in is queued), and
// the engine checks every request in once Password Safe is back.
func TestFaultUpstreamDownLongerThanRevokeRetries(t *testing.T) {
	te := newTestBackend(t, withConfig(map[string]interface{}{"max_retries": 1}))
	roles := te.loadRoles(4, map[string]interface{}{"ttl": "1h", "max_ttl": "2h"})
	live := newLeaseSet()
	for _, r := range roles {
		live.add(te.mustCreds(r, nil))
	}
	// Password Safe unreachable: every connection dropped.
	te.srv.Faults().Inject(pstest.Fault{Drop: true, Rate: 1})
	// Vault's expiration manager would try a revoke 6 times, then mark the
	// lease irrevocable: none needs a second try.
	if n := te.revokeAll(t, live, 1); n != 0 {
		t.Fatalf("%d of %d revokes failed while Password Safe was down", n, len(roles))
	}
	// Still down: the queue keeps trying, one call per tick.
	for i := 0; i < 3; i++ {
		before := te.srv.Inspect().Calls(pstest.EndpointCheckin)
		te.drain()
		if n := te.srv.Inspect().Calls(pstest.EndpointCheckin) - before; n > 2 { // one try, one retry
			t.Fatalf("a tick during the outage made %d check-in calls, want the pass to stop at the first", n)
		}
	}
	if n := len(te.srv.Inspect().ActiveRequests()); n != len(roles) {
		t.Fatalf("active upstream = %d during the outage", n)
	}
	te.srv.Faults().Clear()
	te.drain()
	te.assertSettled(t, nil)
	for _, r := range live.all() {
		if st := te.status(requestIDOf(r)); st != pstest.StatusCheckedIn {
			t.Fatalf("request %d is %s, want checked in", requestIDOf(r), st)
		}
	}
}

// A queued check-in outlived by its request (Password Safe down until past
// the request's expiry) is dropped: Password Safe has ended the request.
func TestQueuedCheckinDroppedAfterExpiry(t *testing.T) {
	te := newTestBackend(t, withConfig(map[string]interface{}{"max_retries": 0}))
	roles := te.loadRoles(1, map[string]interface{}{"ttl": "10m", "max_ttl": "30m"})
	lease := te.mustCreds(roles[0], nil)
	id := requestIDOf(lease)
	te.srv.Faults().Inject(pstest.Fault{Drop: true, Rate: 1})
	te.mustRevoke(lease)
	// The engine cannot tell whether the request waited for approval, so
	// it keeps trying until even a late-approved one would have ended: its
	// window plus its duration.
	te.srv.Advance(30 * time.Minute)
	te.drain()
	if te.queued(id) == nil {
		t.Fatalf("queued check-in dropped while the request could still be active")
	}
	te.srv.Advance(30*time.Minute + QueueExpiryGrace)
	te.drain()
	if te.queued(id) != nil {
		t.Fatalf("queued check-in kept past the request's expiry")
	}
	te.srv.Faults().Clear()
	if st := te.status(id); st != pstest.StatusExpired {
		t.Fatalf("request %d is %s", id, st)
	}
	te.assertSettled(t, nil)
}

func TestFaultLostPOSTAnswersUnderLoad(t *testing.T) {
	te := newTestBackend(t)
	roles := te.loadRoles(16, nil)
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCreateRequest, Drop: true, AfterHandler: true, Count: 5})
	live := newLeaseSet()
	var lost atomic.Int32
	parallel(len(roles), func(i int) {
		var resp *logical.Response
		var err error
		timed(t, "checkout", func() { resp, err = te.creds(roles[i], nil) })
		if clearFailure(t, "checkout with a lost answer", resp, err) != http.StatusOK {
			lost.Add(1)
			return
		}
		live.add(resp)
	})
	if lost.Load() != 5 {
		t.Fatalf("%d checkouts failed, want the 5 whose answer was lost", lost.Load())
	}
	// The lost requests are active upstream, each covered by a WAL entry.
	if n := len(te.srv.Inspect().ActiveRequests()); n != 16 {
		t.Fatalf("active upstream = %d, want 16", n)
	}
	te.assertNoLeak()
	if err := te.rollback(false); err != nil { // young entries: left alone
		t.Fatal(err)
	}
	if te.walCount() != 5 {
		t.Fatalf("rollback touched young WAL entries: %d left", te.walCount())
	}
	if err := te.rollback(true); err != nil {
		t.Fatal(err)
	}
	te.assertSettled(t, live.ids())
	if n := te.revokeAll(t, live, 1); n != 0 {
		t.Fatalf("%d revokes failed", n)
	}
	te.assertSettled(t, nil)
}
