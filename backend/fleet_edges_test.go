package backend_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// slowPost makes the next POST Requests take `lag` of the simulator's
// clock before Password Safe handles it (a slow or retried POST).
type slowPost struct {
	rt  http.RoundTripper
	srv *pstest.Server
	lag atomic.Int64
}

func (s *slowPost) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/Requests") {
		if d := s.lag.Swap(0); d > 0 {
			s.srv.Advance(time.Duration(d))
		}
	}
	return s.rt.RoundTrip(r)
}

// The expiry on record of a request this mount made is
// StartedAt+DurationMinutes, earlier than the real one by the POST's time.
// A fleet read (many holders) takes it only while enough of it is left:
// once it has passed, the request may still be open in Password Safe, and
// the read must ask (else the successor wait would spin and fail with
// "already expired" while the request is open).
func TestFleetReadTrustsNoPassedExpiry(t *testing.T) {
	for _, n := range []int{3, 6} {
		t.Run(fmt.Sprint(n, "holders"), func(t *testing.T) { knownPast(t, n) })
	}
}

func knownPast(t *testing.T, holders int) {
	fe := newFleetEnv(t)
	sp := &slowPost{rt: http.DefaultTransport, srv: fe.srv}
	fe.e.SetClientOptions(func(c *client.Config) { c.HTTPClient = &http.Client{Transport: sp} })
	fe.e.ResetSessions(context.Background())
	fe.writeRole("fleet", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres",
		"conflict_option": "reuse", "ttl": "20s", "max_ttl": "40s"})
	fe.e.SetSuccessorWait(10 * time.Second)
	fe.e.SetSleep(func(_ context.Context, d time.Duration) error { fe.srv.Advance(d); return nil })
	sp.lag.Store(int64(5 * time.Second)) // the first POST takes 5 s
	first, err := fe.agentRead(0)
	if err != nil {
		t.Fatal(err)
	}
	id := requestIDOf(first)
	for i := 1; i < holders; i++ {
		if _, err := fe.agentRead(i); err != nil {
			t.Fatal(err)
		}
	}
	rs, _ := fe.srv.Inspect().Request(id)
	rec := fe.record(id)
	t.Logf("now %s; sim expiry %s; record expiry %s count %d lag left %d", fe.srv.Now(), rs.ExpiresAt, rec.ExpiresAt, rec.Count, sp.lag.Load())
	// Request made at T0+5 (sim clock) for 1 minute; record says T0+60.
	fe.srv.Advance(50 * time.Second) // now T0+55
	resp, err := fe.agentRead(100)
	if err != nil {
		t.Fatalf("a fleet read 5 s before the recorded end (request %d %s): %v", id, fe.status(id), err)
	}
	t.Logf("got request %d (old %d, %s)", requestIDOf(resp), id, fe.status(id))
}

// A renew whose caller goes away while the shared GET Requests is
// under way returns at once; the others sharing the call still get its
// answer; the call's goroutine ends.
func TestFleetRenewCancelWhileShared(t *testing.T) {
	fe := newFleetEnv(t)
	a, err := fe.agentRead(0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fe.agentRead(1)
	if err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()
	fe.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointListRequests, Latency: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ra := fe.req(logical.RenewOperation, "creds/x", nil)
	ra.Secret = stored(a.Secret, "")
	ra.Secret.Increment = time.Hour
	done := make(chan error, 1)
	start := time.Now()
	var took time.Duration
	go func() { _, err := fe.b.HandleRequest(ctx, ra); took = time.Since(start); done <- err }()
	time.Sleep(10 * time.Millisecond)
	rb, err := fe.renew(b, time.Hour)
	if err != nil || rb == nil || rb.IsError() {
		t.Fatalf("renew sharing the call of a cancelled renew: %v %v", rb, err)
	}
	errA := <-done
	t.Logf("cancelled renew returned after %s: %v; shared renew took %s", took, errA, time.Since(start))
	fe.srv.Faults().Clear()
	time.Sleep(500 * time.Millisecond)
	if n := runtime.NumGoroutine(); n > base+2 {
		t.Errorf("goroutines %d, were %d", n, base)
	}
	fe.mustRevoke(a)
	fe.mustRevoke(b)
}

// Same, with the successor wait off: 1 s after the recorded end (the
// request has 4 s left in Password Safe) a fleet read is handed a lease,
// with 6 holders as with 3.
func TestFleetReadAfterRecordedEndNoWait(t *testing.T) {
	for _, n := range []int{3, 6} {
		t.Run(fmt.Sprint(n, "holders"), func(t *testing.T) {
			fe := newFleetEnv(t)
			sp := &slowPost{rt: http.DefaultTransport, srv: fe.srv}
			fe.e.SetClientOptions(func(c *client.Config) { c.HTTPClient = &http.Client{Transport: sp} })
			fe.e.ResetSessions(context.Background())
			fe.writeRole("fleet", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres",
				"conflict_option": "reuse", "ttl": "20s", "max_ttl": "40s"})
			sp.lag.Store(int64(5 * time.Second))
			for i := 0; i < n; i++ {
				if _, err := fe.agentRead(i); err != nil {
					t.Fatal(err)
				}
			}
			fe.srv.Advance(56 * time.Second) // T0+61: record end passed, real end T0+65
			if _, err := fe.agentRead(100); err != nil {
				t.Fatalf("read while the request is open in Password Safe: %v", err)
			}
		})
	}
}

// The successor herd: 12 agents read in the shared request's last
// seconds at once; all wait, wake together and POST together. Every read
// must succeed on one successor, and its record must count every holder.
func TestFleetSuccessorHerdCounted(t *testing.T) {
	fe := newFleetEnv(t)
	fe.writeRole("fleet", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres",
		"conflict_option": "reuse", "ttl": "20s", "max_ttl": "40s"})
	fe.e.SetSuccessorWait(10 * time.Second)
	const old, herd = 6, 12
	var olds []*logical.Response
	for i := 0; i < old; i++ {
		r, err := fe.agentRead(i)
		if err != nil {
			t.Fatal(err)
		}
		olds = append(olds, r)
	}
	first := requestIDOf(olds[0])
	fe.srv.Advance(55 * time.Second)
	var mu sync.Mutex
	arrived := 0
	gate := make(chan struct{})
	fe.e.SetSleep(func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		arrived++
		if arrived == herd {
			fe.srv.Advance(d)
			close(gate)
		}
		mu.Unlock()
		select {
		case <-gate:
			return nil
		case <-time.After(5 * time.Second):
			return fmt.Errorf("herd did not form")
		}
	})
	res := make([]*logical.Response, herd)
	errs := make([]error, herd)
	var wg sync.WaitGroup
	for i := 0; i < herd; i++ {
		wg.Add(1)
		go func(i int) { defer wg.Done(); res[i], errs[i] = fe.agentRead(100 + i) }(i)
	}
	wg.Wait()
	ids := map[int]int{}
	for i := range res {
		if errs[i] != nil {
			t.Errorf("agent %d: %v", i, errs[i])
			continue
		}
		ids[requestIDOf(res[i])]++
	}
	t.Logf("old %d (%s); herd got %v", first, fe.status(first), ids)
	for id, n := range ids {
		if rec := fe.record(id); rec == nil || rec.Count != n || len(fe.holders(id)) != n {
			t.Errorf("request %d: record %+v, holders %d, want %d", id, rec, len(fe.holders(id)), n)
		}
	}
	for _, r := range olds {
		fe.mustRevoke(r)
	}
	for i, r := range res {
		if errs[i] == nil {
			fe.mustRevoke(r)
		}
	}
	if n := len(fe.srv.Inspect().ActiveRequests()); n != 0 {
		t.Errorf("%d requests active after the fleet left", n)
	}
}
