package backend_test

import (
	"context"
	"sync"
	"testing"
	"time"

	. "github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// waitCalls waits until the simulator has seen n calls of endpoint (they
// are counted on arrival, before an injected latency).
func waitCalls(t *testing.T, srv *pstest.Server, endpoint string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Inspect().Calls(endpoint) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d calls after 5s, want %d", endpoint, srv.Inspect().Calls(endpoint), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Sessions evicted from a small cache while their calls are in flight:
// every call still succeeds, and once everything has returned the
// simulator holds exactly the sessions the backend still caches. Before,
// an evicted session was signed out under its running call, which got a
// 401, signed in again and left that new session open.
func TestSessionEvictionInFlightNoLeak(t *testing.T) {
	te := newTestBackend(t, withConfig(map[string]interface{}{"run_as_source": "entity_name"}))
	users := []string{pstest.DemoUserAlice, pstest.DemoUserCarol, pstest.DemoUserDave, pstest.DemoUserBob, pstest.DemoUserErin}
	var ents []*logical.Entity
	for _, u := range users {
		ents = append(ents, person(u))
	}
	withIdentity(te, ents...)
	te.e.NewSessionCache(2)
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointListRequests, Latency: 50 * time.Millisecond})

	const rounds = 4
	var wg sync.WaitGroup
	errs := make(chan error, len(ents)*rounds)
	for _, e := range ents {
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				resp, err := te.as(id, logical.ListOperation, "requests/", nil)
				if err == nil && resp != nil && resp.IsError() {
					err = resp.Error()
				}
				if err != nil {
					errs <- err
				}
			}
		}(e.ID)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("LIST requests/: %v", err)
	}
	te.e.WaitSessionSignouts()

	if n := te.e.SessionsLen(); n != 2 {
		t.Fatalf("cached sessions %d, want 2", n)
	}
	if live, cached := te.srv.Inspect().Sessions(), te.e.SessionsLen(); live != cached {
		t.Fatalf("the simulator has %d live sessions, the backend caches %d: %d leaked (sign-ins %d, sign-outs %d)",
			live, cached, live-cached, te.srv.Inspect().Calls(pstest.EndpointSignAppin), te.srv.Inspect().Calls(pstest.EndpointSignout))
	}
	te.b.Cleanup(context.Background())
	if live := te.srv.Inspect().Sessions(); live != 0 {
		t.Fatalf("after Clean the simulator has %d live sessions", live)
	}
}

// A call in flight when the backend is cleaned up finishes normally, and
// its session is signed out when it ends: it does not get a 401, sign in
// again and leave that session open.
func TestCleanSignsOutInFlightSession(t *testing.T) {
	te := newTestBackend(t)
	te.mustOK(te.do(te.req(logical.ListOperation, "requests/", nil))) // signs in
	if live := te.srv.Inspect().Sessions(); live != 1 {
		t.Fatalf("live sessions %d, want 1", live)
	}
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointListRequests, Latency: 200 * time.Millisecond})
	lists := te.srv.Inspect().Calls(pstest.EndpointListRequests)

	done := make(chan error, 1)
	go func() {
		resp, err := te.do(te.req(logical.ListOperation, "requests/", nil))
		if err == nil && resp != nil && resp.IsError() {
			err = resp.Error()
		}
		done <- err
	}()
	waitCalls(t, te.srv, pstest.EndpointListRequests, lists+1)
	te.b.Cleanup(context.Background())
	if err := <-done; err != nil {
		t.Fatalf("the call in flight at Clean failed: %v", err)
	}
	if n := te.srv.Inspect().Calls(pstest.EndpointSignAppin); n != 1 {
		t.Errorf("sign-ins %d, want 1 (the call in flight must not have been signed out under it)", n)
	}
	if live := te.srv.Inspect().Sessions(); live != 0 {
		t.Fatalf("live sessions %d after Clean and the last call, want 0", live)
	}
}

// A config write while calls are in flight: each old session is signed out
// once its call ends, none is left open.
func TestConfigChangeInFlightNoLeak(t *testing.T) {
	te := newTestBackend(t)
	te.mustOK(te.do(te.req(logical.ListOperation, "requests/", nil)))
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointListRequests, Latency: 100 * time.Millisecond})
	lists := te.srv.Inspect().Calls(pstest.EndpointListRequests)

	const n = 4
	done := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			resp, err := te.do(te.req(logical.ListOperation, "requests/", nil))
			if err == nil && resp != nil && resp.IsError() {
				err = resp.Error()
			}
			done <- err
		}()
	}
	waitCalls(t, te.srv, pstest.EndpointListRequests, lists+n)
	te.mustOK(te.write("config", map[string]interface{}{
		"url": te.srv.URL, "api_key": pstest.DemoAPIKey, "run_as": pstest.DemoUserSvcVault, "verify": false,
	}))
	for i := 0; i < n; i++ {
		if err := <-done; err != nil {
			t.Errorf("a call in flight at the config change failed: %v", err)
		}
	}
	te.e.WaitSessionSignouts()
	if live, cached := te.srv.Inspect().Sessions(), te.e.SessionsLen(); live != cached {
		t.Fatalf("live sessions %d, cached %d", live, cached)
	}
}

// A caller that read the config before a config change gets an unshared
// client of the old generation; its session must not outlive its calls.
func TestStaleGenerationClientSignsOut(t *testing.T) {
	te := newTestBackend(t)
	cfg, err := te.e.Config(context.Background(), te.s)
	if err != nil || cfg == nil {
		t.Fatalf("config: %v %v", cfg, err)
	}
	gen := te.e.SessionGeneration()
	te.e.ResetSessions(context.Background())
	cl, err := te.e.SessionFor(gen, SessionKey(cfg, cfg.RunAs), cfg.MaxConcurrentRequests, func(l *client.Limiter) (*client.Client, error) {
		cc := cfg.ClientConfig(cfg.RunAs)
		cc.Limiter = l
		return client.New(cc)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.ListRequests(context.Background(), "", ""); err != nil {
		t.Fatal(err)
	}
	if live := te.srv.Inspect().Sessions(); live != 0 {
		t.Fatalf("live sessions %d after the stale client's call, want 0", live)
	}
}
