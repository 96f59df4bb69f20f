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

// TestPluginKilled: the plugin process is SIGKILLed between requests and in
// the middle of a revocation (the check-in call in flight); then the
// operator reloads it. Vault starts the plugin again on the next request
// each time; the lease made before all that still renews and revokes; the
// interrupted revocation is retried by Vault until the request is checked
// in: nothing leaks. (A kill in the middle of a checkout, rolled back by the
// engine's WAL: TestPluginKilledMidCheckout.)
func TestPluginKilled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v := e.devVault()
	e.writeRole("db", "system_name=db-prod-01", "account_name=postgres", "ttl=10m")
	e.writeRole("app", "system_name=db-prod-01", "account_name=app_user", "ttl=10m")
	e.writeRole("deploy", "system_name=web-01", "account_name=deploy", "ttl=10m")

	held := e.creds("", "db")
	killPlugin(t, v)
	// Vault starts the plugin again on the next request.
	s := e.creds("", "app")
	if len(v.pluginPIDs()) == 0 {
		t.Fatalf("no plugin process after a successful read")
	}
	v.must("lease", "revoke", s.LeaseID)
	e.waitStatus(e.requestOf(s.LeaseID), "checkedin", 10*time.Second)

	// Mid-revocation: the check-in hangs in Password Safe, and the plugin
	// dies while waiting for it.
	d := e.creds("", "deploy")
	rid := e.requestOf(d.LeaseID)
	pwBefore := e.sim.Inspect().Password(22)
	checkins := e.sim.Inspect().Calls("PUT Requests/{id}/Checkin")
	e.sim.Faults().Inject(pstest.Fault{Endpoint: "PUT Requests/{id}/Checkin", Latency: time.Minute, Count: 1})
	v.must("lease", "revoke", d.LeaseID) // queued: Vault's expiration manager does the work
	eventually(t, 20*time.Second, "the check-in call to reach Password Safe", func() (bool, string) {
		return e.sim.Inspect().Calls("PUT Requests/{id}/Checkin") > checkins, "no check-in call yet"
	})
	killPlugin(t, v)
	e.sim.Faults().Clear()
	// Vault retries the revocation (its backoff starts at seconds) with a
	// new plugin process, which checks the request in.
	start := time.Now()
	e.waitStatus(rid, "checkedin", 2*time.Minute)
	t.Logf("the interrupted revocation completed %s after the kill", time.Since(start).Round(time.Second))
	eventually(t, 30*time.Second, "the lease to be gone", func() (bool, string) {
		_, err := v.cli("lease", "lookup", d.LeaseID)
		return err != nil, "lease still there"
	})
	if e.sim.Inspect().Password(22) == pwBefore {
		t.Fatalf("password of account 22 did not rotate on the retried check-in")
	}

	// An operator's plugin reload (a new process, same catalog entry).
	v.must("plugin", "reload", "-plugin="+pluginName)
	s = e.creds("", "app")
	v.must("lease", "revoke", s.LeaseID)
	e.waitStatus(e.requestOf(s.LeaseID), "checkedin", 10*time.Second)

	// The lease made before the kills and the reload is still good.
	v.must("lease", "renew", held.LeaseID)
	v.must("lease", "revoke", held.LeaseID)
	e.waitStatus(e.requestOf(held.LeaseID), "checkedin", 10*time.Second)
}

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
