//go:build e2e

package e2e

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// TestRestartPersistentStorage: a real server with file storage is stopped
// with live leases and started again; after unseal the leases are still
// there, and revocation and expiry still check their requests in.
func TestRestartPersistentStorage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v := newServerVault(t, "restart", vaultOpts{storage: "file"})
	v.start()
	v.waitReady(false)
	e.addVault(v)
	key := v.initUnseal()
	v.waitReady(true)
	e.setup(v)
	e.writeRole("long", "system_name=db-prod-01", "account_name=postgres", "ttl=10m")
	e.writeRole("short", "system_name=db-prod-01", "account_name=app_user", "ttl=40s", "max_ttl=40s")
	long := e.creds("", "long")
	short := e.creds("", "short")

	v.stop()
	if n := len(v.pluginPIDs()); n != 0 {
		t.Fatalf("%d plugin processes outlived the stopped server", n)
	}
	// Nothing may happen upstream while Vault is down.
	for _, s := range []secret{long, short} {
		e.waitStatus(e.requestOf(s.LeaseID), "active", time.Second)
	}
	v.start()
	v.waitReady(false)
	v.unseal(key)
	v.waitReady(true)

	// The leases survived, and the plugin works on them again.
	var renewed secret
	v.mustJSON(&renewed, []string{"lease", "renew"}, long.LeaseID)
	if renewed.LeaseDuration <= 0 {
		t.Fatalf("renew after restart: %+v", renewed)
	}
	v.must("lease", "revoke", long.LeaseID)
	e.waitStatus(e.requestOf(long.LeaseID), "checkedin", 10*time.Second)
	e.waitStatus(e.requestOf(short.LeaseID), "checkedin", 60*time.Second)

	// And a new checkout works.
	s := e.creds("", "long")
	v.must("lease", "revoke", s.LeaseID)
	e.waitStatus(e.requestOf(s.LeaseID), "checkedin", 10*time.Second)
}

// TestPluginKilled: the plugin process is SIGKILLed, once between requests
// and once in the middle of a checkout (after Password Safe made the
// request, before Vault had a lease). Vault starts the plugin again, later
// reads and revocations work, and the half-made checkout is checked in.
func TestPluginKilled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v := startDevVault(t, "killed")
	e.addVault(v)
	v.registerPlugin("-env=" + walMinAgeEnv + "=" + walMinAge.String())
	v.enable(mount)
	e.writeConfig(v)
	e.writeRole("db", "system_name=db-prod-01", "account_name=postgres", "ttl=5m")
	e.writeRole("app", "system_name=db-prod-01", "account_name=app_user", "ttl=5m")
	e.writeRole("deploy", "system_name=web-01", "account_name=deploy", "ttl=5m")

	held := e.creds("", "db")
	killPlugin(t, v)
	// Vault starts the plugin again on the next request.
	s := e.creds("", "app")
	if len(v.pluginPIDs()) == 0 {
		t.Fatalf("no plugin process after a successful read")
	}
	v.must("lease", "revoke", s.LeaseID)
	e.waitStatus(e.requestOf(s.LeaseID), "checkedin", 10*time.Second)

	// Mid-flight: the credential fetch hangs after POST Requests succeeded.
	e.sim.InjectFault(pstest.Fault{Endpoint: "GET Credentials/{id}", Latency: 30 * time.Second, Count: 1})
	before := e.requestIDs()
	done := make(chan error, 1)
	go func() {
		_, err := v.cli("read", mount+"/creds/deploy")
		done <- err
	}()
	var half int
	eventually(t, 20*time.Second, "the checkout to reach Password Safe", func() (bool, string) {
		for _, r := range e.sim.ActiveRequests() {
			if !before[r.ID] && r.AccountID == 22 {
				half = r.ID
				return true, ""
			}
		}
		return false, "no new request for account 22"
	})
	killPlugin(t, v)
	e.sim.ClearFaults()
	if err := <-done; err == nil {
		t.Fatalf("the read whose plugin was killed succeeded")
	}
	// Nothing holds request `half`: the plugin's write-ahead log must make
	// Vault's rollback check it in.
	start := time.Now()
	e.waitStatus(half, "checkedin", rollbackWait)
	t.Logf("the unfinished checkout was rolled back (checked in) after %s", time.Since(start).Round(time.Second))

	// The lease made before both kills is still good.
	v.must("lease", "renew", held.LeaseID)
	v.must("lease", "revoke", held.LeaseID)
	e.waitStatus(e.requestOf(held.LeaseID), "checkedin", 10*time.Second)
}

// Vault's rollback manager runs every minute and rolls back a write-ahead
// log entry once it is older than the plugin's minimum age (15 minutes by
// default, longer than any checkout can run). The test asks for a short one
// through the plugin's environment (vault plugin register -env=...); a
// plugin without that setting is still waited for, just for longer.
const (
	walMinAgeEnv = "PASSWORDSAFE_WAL_ROLLBACK_MIN_AGE"
	walMinAge    = 20 * time.Second
	rollbackWait = 15*time.Minute + 2*time.Minute + walMinAge
)

func killPlugin(t *testing.T, v *vault) {
	t.Helper()
	pids := v.pluginPIDs()
	if len(pids) == 0 {
		t.Fatalf("no plugin process of %s to kill", v.name)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d: %v", pid, err)
		}
	}
	eventually(t, 10*time.Second, "the plugin to die", func() (bool, string) {
		for _, pid := range pids {
			if syscall.Kill(pid, 0) == nil && !isZombie(pid) {
				return false, fmt.Sprintf("pid %d alive", pid)
			}
		}
		return true, ""
	})
}
