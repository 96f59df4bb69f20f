//go:build e2e

package e2e

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// TestFaultsThroughVault injects Password Safe faults under a real Vault and
// checks what the Vault client sees: a clear error naming Password Safe and
// the HTTP status Vault answers with, never a hang past the timeout; and that
// once Password Safe is healthy again everything settles (the harness's
// cleanup then checks that no request is active without a live lease and
// that no secret reached a log).
func TestFaultsThroughVault(t *testing.T) {
	t.Parallel() // its own simulator and Vault: nothing shared with other tests
	e := newEnv(t)
	v := e.devVault()
	v.must("write", mount+"/config", "request_timeout=2s", "max_retries=1")
	e.writeRole("pg", "system_name=db-prod-01", "account_name=postgres")
	e.writeRole("app", "system_name=db-prod-01", "account_name=app_user")

	// fails runs a creds read that must fail in time with every want in the error.
	fails := func(role string, bound time.Duration, want ...string) {
		t.Helper()
		start := time.Now()
		_, err := e.tryCreds(v, "", role)
		took := time.Since(start)
		if err == nil {
			t.Fatalf("creds/%s succeeded during the fault", role)
		}
		if took > bound {
			t.Errorf("creds/%s took %s to fail (bound %s): %v", role, took, bound, err)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("creds/%s error does not say %q: %v", role, w, err)
			}
		}
	}
	noneActive := func(what string) {
		t.Helper()
		eventually(t, 30*time.Second, what, func() (bool, string) {
			n := len(e.sim.Inspect().ActiveRequests())
			return n == 0, "active requests: " + strconv.Itoa(n)
		})
	}
	// revoke is a synchronous revoke: Vault calls the plugin and reports
	// its error (a plain `vault lease revoke` queues the revocation and
	// retries it in the background).
	revoke := func(lease string) error {
		_, err := v.cli("lease", "revoke", "-sync", lease)
		return err
	}
	sub := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			t.Cleanup(e.sim.Faults().Clear)
			f(t)
		})
	}

	sub("5xx burst during checkout", func(t *testing.T) {
		e.sim.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCreateRequest, Status: http.StatusServiceUnavailable, Count: 1})
		fails("pg", 30*time.Second, "Code: 502", "Password Safe", "503")
		// The credential read fails past the retries: the request it made is
		// checked in at once.
		e.sim.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCredentials, Status: http.StatusBadGateway, Count: 2})
		fails("pg", 30*time.Second, "Code: 502", "Password Safe")
		noneActive("the failed checkout's request to be checked in")
		s := e.creds("", "pg")
		if err := revoke(s.LeaseID); err != nil {
			t.Fatal(err)
		}
	})

	sub("5xx burst during check-in", func(t *testing.T) {
		s := e.creds("", "pg")
		id := e.requestOf(s.LeaseID)
		e.sim.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCheckin, Status: http.StatusServiceUnavailable, Rate: 1})
		// The revoke succeeds: the engine queues the check-in and retries it
		// itself (Vault's periodic tick, about once a minute).
		if err := revoke(s.LeaseID); err != nil {
			t.Fatalf("revoke during a check-in outage = %v, want it queued", err)
		}
		if st, _ := e.sim.Inspect().Request(id); st.Status != pstest.StatusActive {
			t.Fatalf("request %d is %s after a failed check-in", id, st.Status)
		}
		e.sim.Faults().Clear()
		e.waitStatus(id, pstest.StatusCheckedIn, 3*time.Minute)
	})

	sub("slow upstream beyond request_timeout", func(t *testing.T) {
		e.sim.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCredentials, Latency: time.Minute, Rate: 1})
		// request_timeout 2s, one retry: well under the minute per answer.
		fails("pg", 30*time.Second, "Code: 504", "did not answer in time")
		e.sim.Faults().Clear()
		noneActive("the timed-out checkout's request to be checked in")
	})

	sub("dropped connections", func(t *testing.T) {
		e.sim.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCreateRequest, Drop: true, Rate: 1})
		fails("pg", 30*time.Second, "Code: 502", "Password Safe")
		e.sim.Faults().Clear()
		// A dropped GET is retried: one drop costs nothing.
		e.sim.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCredentials, Drop: true, Count: 1})
		s := e.creds("", "pg")
		if err := revoke(s.LeaseID); err != nil {
			t.Fatal(err)
		}
	})

	sub("every session expired", func(t *testing.T) {
		a := e.creds("", "app")
		before := e.sim.Inspect().Calls(pstest.EndpointSignAppin)
		e.sim.Edit().ExpireSessions()
		b := e.creds("", "pg") // 401: one new sign-in, then the same call again
		if err := revoke(a.LeaseID); err != nil {
			t.Fatal(err)
		}
		if err := revoke(b.LeaseID); err != nil {
			t.Fatal(err)
		}
		if n := e.sim.Inspect().Calls(pstest.EndpointSignAppin) - before; n != 1 {
			t.Errorf("sign-ins after the expiry = %d, want 1", n)
		}
	})

	sub("upstream down during revoke: queued, checked in once back", func(t *testing.T) {
		s := e.creds("", "pg")
		id := e.requestOf(s.LeaseID)
		e.sim.Faults().Inject(pstest.Fault{Drop: true, Rate: 1})
		start := time.Now()
		if err := revoke(s.LeaseID); err != nil {
			t.Fatalf("revoke while Password Safe is down = %v, want it queued", err)
		}
		if took := time.Since(start); took > 30*time.Second {
			t.Errorf("a revoke against a dead upstream took %s", took)
		}
		time.Sleep(3 * time.Second)
		if st, _ := e.sim.Inspect().Request(id); st.Status != pstest.StatusActive {
			t.Fatalf("request %d is %s while Password Safe is down", id, st.Status)
		}
		e.sim.Faults().Clear()
		e.waitStatus(id, pstest.StatusCheckedIn, 3*time.Minute)
	})
}
