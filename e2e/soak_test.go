//go:build e2e && soak

package e2e

import (
	"syscall"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// Soak tests: faults whose proof takes many minutes of Vault's own timers
// (make soak). Both run in parallel, each with its own Vault.

// walRollbackWait is how long Vault takes to roll back a checkout the
// plugin never finished: the engine's WAL entries become eligible after
// 15 minutes (backend.walRollbackMinAge) and Vault's rollback manager runs
// about once a minute.
const walRollbackWait = 15*time.Minute + 3*time.Minute

// TestSoakPluginKilledMidCheckout: the plugin process is killed after POST
// Requests created the request and before the lease was written. The read
// fails in time, and WAL rollback checks the request in: nothing leaks.
func TestSoakPluginKilledMidCheckout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v := e.devVault()
	e.writeRole("pg", "system_name=db-prod-01", "account_name=postgres")
	e.writeRole("app", "system_name=db-prod-01", "account_name=app_user")

	// The credential read hangs, so the checkout is mid-flight: the request
	// exists upstream, the lease does not exist yet.
	e.sim.InjectFault(pstest.Fault{Endpoint: pstest.EndpointCredentials, Latency: 2 * time.Minute, Count: 1})
	done := make(chan error, 1)
	go func() {
		_, err := e.tryCreds(v, "", "pg")
		done <- err
	}()
	var id int
	eventually(t, 60*time.Second, "the checkout's request to be active", func() (bool, string) {
		for _, r := range e.sim.ActiveRequests() {
			id = r.ID
			return true, ""
		}
		return false, "no active request"
	})
	pids := v.pluginPIDs()
	if len(pids) == 0 {
		t.Fatal("no plugin process to kill")
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill plugin %d: %v", pid, err)
		}
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the checkout succeeded although its plugin was killed")
		}
		t.Logf("the Vault client saw: %v", err)
	case <-time.After(100 * time.Second):
		t.Fatal("the read hung after the plugin was killed")
	}
	e.sim.ClearFaults()

	// Vault restarts the plugin on demand: other accounts work at once.
	s := e.creds("", "app")
	if _, err := v.cli("lease", "revoke", "-sync", s.LeaseID); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.sim.Request(id); st.Status != pstest.StatusActive {
		t.Fatalf("request %d is %s before rollback", id, st.Status)
	}
	// The killed checkout's request is checked in by WAL rollback.
	e.waitStatus(id, pstest.StatusCheckedIn, walRollbackWait)
	// And the account is free again.
	s = e.creds("", "pg")
	if _, err := v.cli("lease", "revoke", "-sync", s.LeaseID); err != nil {
		t.Fatal(err)
	}
}

// TestSoakUpstreamDownPastRevokeRetries: Password Safe is unreachable for
// longer than Vault retries a failed revocation (6 attempts with growing
// backoff, then the lease is marked irrevocable). The request cannot be
// checked in, but it cannot outlive the lease either: its duration is the
// lease's max TTL, so Password Safe ends it then. Nothing stays active.
func TestSoakUpstreamDownPastRevokeRetries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v := e.devVault()
	e.writeRole("short", "system_name=db-prod-01", "account_name=postgres", "ttl=1m", "max_ttl=2m")
	s := e.creds("", "short")
	id := e.requestOf(s.LeaseID)
	req, _ := e.sim.Request(id)
	if d := req.ExpiresAt.Sub(req.CreatedAt); d > 2*time.Minute+time.Second {
		t.Fatalf("request lasts %s, more than the lease's max TTL", d)
	}
	e.sim.InjectFault(pstest.Fault{Drop: true, Rate: 1})
	// Vault revokes at expiry (2m) and retries for about 10 minutes.
	time.Sleep(13 * time.Minute)
	if st, _ := e.sim.Request(id); st.Status == pstest.StatusActive {
		t.Fatalf("request %d still active after its duration", id)
	}
	e.sim.ClearFaults()
	// Whatever Vault did with the lease, the account is free and nothing is active.
	s = e.creds("", "short")
	if _, err := v.cli("lease", "revoke", "-sync", s.LeaseID); err != nil {
		t.Fatal(err)
	}
	if n := len(e.sim.ActiveRequests()); n != 0 {
		t.Fatalf("%d requests active", n)
	}
}
