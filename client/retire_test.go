package client_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// waitCalls waits until the simulator has seen n calls of endpoint (counted
// on arrival, before an injected latency).
func waitCalls(t *testing.T, s *pstest.Server, endpoint string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.Inspect().Calls(endpoint) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d calls after 5s, want %d", endpoint, s.Inspect().Calls(endpoint), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func signedIn(t *testing.T, s *pstest.Server) *client.Client {
	t.Helper()
	c := newClient(t, keyConfig(s, ""))
	if _, err := c.ListRequests(context.Background(), "", ""); err != nil {
		t.Fatal(err)
	}
	if n := s.Inspect().Sessions(); n != 1 {
		t.Fatalf("live sessions %d, want 1", n)
	}
	return c
}

// An idle client is signed out by Retire at once.
func TestRetireIdleSignsOut(t *testing.T) {
	s := newSim(t)
	c := signedIn(t, s)
	if err := c.Retire(context.Background()); err != nil {
		t.Fatalf("Retire: %v", err)
	}
	if n, m := s.Inspect().Sessions(), s.Inspect().Calls(epSignout); n != 0 || m != 1 {
		t.Fatalf("live sessions %d, sign-outs %d; want 0 and 1", n, m)
	}
	// Again: nothing left to do.
	if err := c.Retire(context.Background()); err != nil || s.Inspect().Calls(epSignout) != 1 {
		t.Fatalf("second Retire: %v, sign-outs %d", err, s.Inspect().Calls(epSignout))
	}
}

// A call in flight when its client is retired finishes on the same session
// (no 401, no second sign-in); the session is signed out when it returns,
// and Retire waits for that.
func TestRetireWaitsForCallInFlight(t *testing.T) {
	s := newSim(t)
	c := signedIn(t, s)
	s.Faults().Inject(pstest.Fault{Endpoint: epListRequests, Latency: 100 * time.Millisecond})
	lists := s.Inspect().Calls(epListRequests)

	done := make(chan error, 1)
	go func() {
		_, err := c.ListRequests(context.Background(), "", "")
		done <- err
	}()
	waitCalls(t, s, epListRequests, lists+1)
	if err := c.Retire(context.Background()); err != nil {
		t.Fatalf("Retire: %v", err)
	}
	// The sign-out runs only once the call is done: Retire waited for it.
	if n, m := s.Inspect().Sessions(), s.Inspect().Calls(epSignout); n != 0 || m != 1 {
		t.Fatalf("when Retire returned: live sessions %d, sign-outs %d; want 0 and 1", n, m)
	}
	if err := <-done; err != nil {
		t.Fatalf("the call in flight failed: %v", err)
	}
	if n, m := s.Inspect().Calls(epSignAppin), s.Inspect().Calls(epSignout); n != 1 || m != 1 {
		t.Fatalf("sign-ins %d, sign-outs %d; want 1 and 1", n, m)
	}
}

// When Retire gives up waiting, the last call in flight still signs out
// before it returns.
func TestRetireTimeoutLastCallSignsOut(t *testing.T) {
	s := newSim(t)
	c := signedIn(t, s)
	s.Faults().Inject(pstest.Fault{Endpoint: epListRequests, Latency: 150 * time.Millisecond})
	lists := s.Inspect().Calls(epListRequests)

	done := make(chan error, 1)
	go func() {
		_, err := c.ListRequests(context.Background(), "", "")
		done <- err
	}()
	waitCalls(t, s, epListRequests, lists+1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := c.Retire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Retire with calls in flight past ctx: %v, want the context's error", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the call in flight failed: %v", err)
	}
	if n, m := s.Inspect().Sessions(), s.Inspect().Calls(epSignout); n != 0 || m != 1 {
		t.Fatalf("after the last call returned: live sessions %d, sign-outs %d; want 0 and 1", n, m)
	}
}

// A call that starts while a retired client is signing out waits for the
// sign-out, then signs in anew and out again: its sign-in cannot race the
// sign-out (which clears the cookie jar) and be left open.
func TestRetireCallDuringSignOut(t *testing.T) {
	s := newSim(t)
	c := signedIn(t, s)
	s.Faults().Inject(pstest.Fault{Endpoint: epSignout, Latency: 100 * time.Millisecond})
	// The call outlasts the sign-out: were it not held back, its new
	// session cookie would be cleared under it.
	s.Faults().Inject(pstest.Fault{Endpoint: epListRequests, Latency: 150 * time.Millisecond})

	retired := make(chan error, 1)
	go func() { retired <- c.Retire(context.Background()) }()
	waitCalls(t, s, epSignout, 1)
	if _, err := c.ListRequests(context.Background(), "", ""); err != nil {
		t.Fatalf("call during the sign-out: %v", err)
	}
	if err := <-retired; err != nil {
		t.Fatalf("Retire: %v", err)
	}
	if n, m, k := s.Inspect().Sessions(), s.Inspect().Calls(epSignAppin), s.Inspect().Calls(epSignout); n != 0 || m != 2 || k != 2 {
		t.Fatalf("live sessions %d, sign-ins %d, sign-outs %d; want 0, 2, 2", n, m, k)
	}
}

// A retired client still works: each call signs in and the session is
// signed out again before the call returns.
func TestRetiredClientCallSignsOut(t *testing.T) {
	s := newSim(t)
	c := newClient(t, keyConfig(s, ""))
	if err := c.Retire(context.Background()); err != nil {
		t.Fatalf("Retire of a client never signed in: %v", err)
	}
	if s.Inspect().Calls(epSignout) != 0 {
		t.Fatal("Retire signed out a client that had no session")
	}
	for i := 1; i <= 2; i++ {
		if _, err := c.ListRequests(context.Background(), "", ""); err != nil {
			t.Fatal(err)
		}
		if n, m, k := s.Inspect().Sessions(), s.Inspect().Calls(epSignAppin), s.Inspect().Calls(epSignout); n != 0 || m != i || k != i {
			t.Fatalf("call %d: live sessions %d, sign-ins %d, sign-outs %d", i, n, m, k)
		}
	}
	if _, err := c.SignIn(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := s.Inspect().Sessions(); n != 0 {
		t.Fatalf("SignIn on a retired client left %d sessions", n)
	}
}

// Many goroutines using a client while it is retired, some starting after
// Retire and some after the session expired upstream: every call
// succeeds, and when all have returned no session is left.
func TestRetireConcurrentNoLeak(t *testing.T) {
	s := newSim(t)
	c := signedIn(t, s)
	s.Faults().Inject(pstest.Fault{Endpoint: epListRequests, Latency: 20 * time.Millisecond})

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	call := func() {
		defer wg.Done()
		for i := 0; i < 4; i++ {
			if _, err := c.ListRequests(context.Background(), "", ""); err != nil {
				errs <- err
			}
		}
	}
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go call()
	}
	time.Sleep(30 * time.Millisecond)
	retired := make(chan error, 1)
	go func() { retired <- c.Retire(context.Background()) }()
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go call()
		time.Sleep(15 * time.Millisecond)
		if i == 1 {
			s.Edit().ExpireSessions()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("call: %v", err)
	}
	if err := <-retired; err != nil {
		t.Errorf("Retire: %v", err)
	}
	if n := s.Inspect().Sessions(); n != 0 {
		t.Fatalf("live sessions %d after every call returned (sign-ins %d, sign-outs %d)",
			n, s.Inspect().Calls(epSignAppin), s.Inspect().Calls(epSignout))
	}
}
