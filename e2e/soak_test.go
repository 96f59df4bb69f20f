//go:build e2e && soak

package e2e

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// Soak tests: faults whose proof takes many minutes of Vault's own timers
// (make soak). Each runs in parallel with its own Vault.

// TestSoakUpstreamDownPastRevokeRetries: Password Safe is unreachable for
// longer than Vault would retry a failed revocation (6 attempts over about
// 10 minutes, then the lease is marked irrevocable). The engine queues the
// check-ins it cannot make, so Vault's revocations succeed: a lease that
// expires and one revoked with a plain (queued) `vault lease revoke` both
// leave Vault at once and none is ever irrevocable. The plugin process is
// killed in the middle: the queue is in the mount's storage. The requests
// (30 minutes long) stay active upstream through the outage, the queue
// tries about once a minute, and once Password Safe is back it checks both
// in, long before they would have expired.
func TestSoakUpstreamDownPastRevokeRetries(t *testing.T) {
	t.Parallel()
	const (
		outageFor   = 13 * time.Minute
		requestLife = 30 * time.Minute
	)
	e := newEnv(t)
	v := e.devVault()
	h := newVaultHTTP(v, 4)
	e.writeRole("expiring", "system_name=db-prod-01", "account_name=postgres", "ttl=1m", "max_ttl="+requestLife.String())
	e.writeRole("revoked", "system_name=web-01", "account_name=deploy", "ttl=20m", "max_ttl="+requestLife.String())
	exp := e.creds("", "expiring")
	rev := e.creds("", "revoked")
	ids := map[string]int{exp.LeaseID: e.requestOf(exp.LeaseID), rev.LeaseID: e.requestOf(rev.LeaseID)}
	for lease, id := range ids {
		r := e.waitStatus(id, pstest.StatusActive, time.Second)
		if r.DurationMinutes != int(requestLife/time.Minute) {
			t.Fatalf("request %d of %s lasts %d minutes, want %d", id, lease, r.DurationMinutes, int(requestLife/time.Minute))
		}
	}

	rec := newOutageRecorder()
	e.sim.SetFaultFunc(rec.fault)
	downAt := time.Now()
	// A plain `vault lease revoke` is queued by Vault and retried by it on
	// failure; here the engine takes it at once.
	v.must("lease", "revoke", rev.LeaseID)

	// healthy: no irrevocable lease, both requests active upstream, and,
	// from a minute and a half on (the expiry at 1m plus Vault's revocation),
	// no lease left in Vault.
	healthy := func() {
		t.Helper()
		irr, err := h.irrevocableLeases()
		if err != nil || irr != 0 {
			t.Fatalf("%s into the outage: %d irrevocable leases (%v)", time.Since(downAt).Round(time.Second), irr, err)
		}
		for lease, id := range ids {
			if r, _ := e.sim.Request(id); r.Status != pstest.StatusActive {
				t.Fatalf("%s into the outage: request %d of %s is %s", time.Since(downAt).Round(time.Second), id, lease, r.Status)
			}
		}
		if time.Since(downAt) > 90*time.Second {
			if left, err := h.leasesUnder(mount + "/"); err != nil || len(left) != 0 {
				t.Fatalf("%s into the outage: leases left in Vault: %v (%v)", time.Since(downAt).Round(time.Second), left, err)
			}
		}
	}
	var killedAt time.Time
	for time.Since(downAt) < outageFor {
		healthy()
		// Half way, with both check-ins queued: kill the plugin process;
		// the next request starts a new one.
		if killedAt.IsZero() && time.Since(downAt) > outageFor/2 {
			pids := v.pluginPIDs()
			if len(pids) == 0 {
				t.Fatal("no plugin process to kill")
			}
			for _, pid := range pids {
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Fatalf("kill plugin %d: %v", pid, err)
				}
			}
			old := map[int]bool{}
			for _, pid := range pids {
				old[pid] = true
			}
			eventually(t, time.Minute, "a new plugin process", func() (bool, string) {
				_, err := v.cli("read", mount+"/config")
				now := v.pluginPIDs()
				for _, pid := range now {
					if old[pid] {
						return false, fmt.Sprintf("plugin PIDs %v (killed %v)", now, pids)
					}
				}
				return err == nil && len(now) > 0, fmt.Sprintf("plugin PIDs %v, read config: %v", now, err)
			})
			killedAt = time.Now()
			t.Logf("plugin process killed %s into the outage; a new one runs", time.Since(downAt).Round(time.Second))
		}
		time.Sleep(15 * time.Second)
	}
	healthy()
	if b, err := os.ReadFile(v.logPath); err != nil {
		t.Fatal(err)
	} else if i := strings.Index(string(b), "failed to revoke lease"); i >= 0 {
		t.Fatalf("Vault logged a failed revocation: %s", truncate(string(b[i:]), 400))
	}
	e.sim.ClearFaults()
	upAt := time.Now()
	s := rec.summary()
	minutes := int(upAt.Sub(downAt)/time.Minute) + 1
	// The queue's tries: check-ins, and sign-ins once the new plugin
	// process, which has no session yet, tries.
	if periodic, bound := len(s.queueTries)+s.other, checkinAttemptsPerTry*(minutes+1); periodic > bound || len(s.queueTries) == 0 {
		t.Errorf("the queue made %d calls (%d check-ins) in a %s outage, want 1 to %d (about one try per rollback tick)",
			periodic, len(s.queueTries), upAt.Sub(downAt).Round(time.Second), bound)
	}
	if rec.callsAfter(killedAt) == 0 {
		t.Errorf("the new plugin process never tried the queued check-ins while Password Safe was down")
	}
	t.Logf("outage %s: %d check-in attempts by the 2 revokes, %d by the queue (per minute: %v), calls by endpoint %v",
		upAt.Sub(downAt).Round(time.Second), s.revokeTries, len(s.queueTries), perMinute(s.queueTries, downAt, upAt), s.byEndpoint)

	// Back: the queue checks both in (a rollback tick, about a minute).
	for lease, id := range ids {
		r := e.waitStatus(id, pstest.StatusCheckedIn, 5*time.Minute)
		if r.EndedAt == nil || r.EndedAt.Before(upAt) {
			t.Fatalf("request %d of %s ended at %v, before Password Safe was back", id, lease, r.EndedAt)
		}
		t.Logf("request %d checked in %s after Password Safe came back", id, r.EndedAt.Sub(upAt).Round(time.Millisecond))
	}
	// The accounts are free again.
	for _, role := range []string{"expiring", "revoked"} {
		s := e.creds("", role)
		if _, err := v.cli("lease", "revoke", "-sync", s.LeaseID); err != nil {
			t.Fatal(err)
		}
		e.waitStatus(e.requestOf(s.LeaseID), pstest.StatusCheckedIn, 10*time.Second)
	}
}

// callsAfter is how many calls came after t.
func (o *outageRecorder) callsAfter(t time.Time) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, ts := range o.calls {
		for _, c := range ts {
			if c.After(t) {
				n++
			}
		}
	}
	return n
}
