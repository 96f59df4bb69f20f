//go:build e2e

package e2e

import (
	"syscall"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// killedRollbackWait is how long Vault takes to roll back a checkout the
// plugin never finished with wal_rollback_min_age=30s: the entry becomes
// eligible after 30s and Vault's rollback manager runs about once a minute.
const killedRollbackWait = 30*time.Second + 3*time.Minute

// TestPluginKilledMidCheckout: the plugin process is killed after POST
// Requests created the request and before the lease was written. The read
// fails in time, and WAL rollback checks the request in: nothing leaks.
func TestPluginKilledMidCheckout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v := e.devVault()
	// Roll back after 30s instead of 15 minutes, so the proof fits in make e2e.
	v.must("secrets", "tune", "-options=wal_rollback_min_age=30s", mount)
	v.must("write", "sys/plugins/reload/backend", "mounts="+mount+"/")
	e.writeRole("pg", "system_name=db-prod-01", "account_name=postgres")
	e.writeRole("app", "system_name=db-prod-01", "account_name=app_user")

	// The credential read hangs, so the checkout is mid-flight: the request
	// exists upstream, the lease does not exist yet.
	e.sim.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCredentials, Latency: 2 * time.Minute, Count: 1})
	done := make(chan error, 1)
	go func() {
		_, err := e.tryCreds(v, "", "pg")
		done <- err
	}()
	var id int
	eventually(t, 60*time.Second, "the checkout's request to be active", func() (bool, string) {
		for _, r := range e.sim.Inspect().ActiveRequests() {
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
	e.sim.Faults().Clear()

	// Vault restarts the plugin on demand: other accounts work at once.
	s := e.creds("", "app")
	if _, err := v.cli("lease", "revoke", "-sync", s.LeaseID); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.sim.Inspect().Request(id); st.Status != pstest.StatusActive {
		t.Fatalf("request %d is %s before rollback", id, st.Status)
	}
	// The killed checkout's request is checked in by WAL rollback.
	e.waitStatus(id, pstest.StatusCheckedIn, killedRollbackWait)
	// And the account is free again.
	s = e.creds("", "pg")
	if _, err := v.cli("lease", "revoke", "-sync", s.LeaseID); err != nil {
		t.Fatal(err)
	}
}
