//go:build e2e && soak

package e2e

import (
	"fmt"
	"os"
	"strings"
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
// expires (and 20 more) and one revoked with a plain (queued) `vault lease
// revoke` leave Vault at once and none is ever irrevocable. The plugin process is
// killed in the middle: the queue is in the mount's storage. The requests
// (30 minutes long) stay active upstream through the outage, the queue
// tries about once a minute (one try per rollback tick, not one per queued
// check-in, before and after the restart), and once Password Safe is back
// it checks them all in, long before they would have expired.
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
	// And 20 more that expire, on the load-NN accounts: a queue of 22 shows
	// whether a rollback pass stops at the first failure.
	for i := 0; i < 20; i++ {
		role := fmt.Sprintf("load-%02d", i)
		e.writeRole(role, "system_name="+role, "account_name=svc", "ttl=1m", "max_ttl="+requestLife.String())
		s := e.creds("", role)
		ids[s.LeaseID] = e.requestOf(s.LeaseID)
	}
	for lease, id := range ids {
		r := e.waitStatus(id, pstest.StatusActive, time.Second)
		if r.DurationMinutes != int(requestLife/time.Minute) {
			t.Fatalf("request %d of %s lasts %d minutes, want %d", id, lease, r.DurationMinutes, int(requestLife/time.Minute))
		}
	}

	rec := newOutageRecorder()
	e.sim.Faults().SetFunc(rec.fault)
	downAt := time.Now()
	// A plain `vault lease revoke` is queued by Vault and retried by it on
	// failure; here the engine takes it at once.
	v.must("lease", "revoke", rev.LeaseID)

	// healthy: no irrevocable lease, every request active upstream, and,
	// from a minute and a half on (the expiry at 1m plus Vault's revocation),
	// no lease left in Vault.
	healthy := func() {
		t.Helper()
		irr, err := h.irrevocableLeases()
		if err != nil || irr != 0 {
			t.Fatalf("%s into the outage: %d irrevocable leases (%v)", time.Since(downAt).Round(time.Second), irr, err)
		}
		for lease, id := range ids {
			if r, _ := e.sim.Inspect().Request(id); r.Status != pstest.StatusActive {
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
		// Half way, with every check-in queued: kill the plugin process;
		// the next request starts a new one.
		if killedAt.IsZero() && time.Since(downAt) > outageFor/2 {
			crashPlugin(t, v)
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
	e.sim.Faults().Clear()
	upAt := time.Now()
	s := rec.summary()
	minutes := int(upAt.Sub(downAt)/time.Minute) + 1
	// The queue's tries: check-ins, and sign-ins once the new plugin
	// process, which has no session yet, tries.
	if bound := checkinAttemptsPerTry * (minutes + 1); len(s.periodic) > bound || len(s.queueTries) == 0 {
		t.Errorf("the queue made %d calls (%d check-ins) in a %s outage, want 1 to %d (about one try per rollback tick)",
			len(s.periodic), len(s.queueTries), upAt.Sub(downAt).Round(time.Second), bound)
	}
	if rec.callsAfter(killedAt) == 0 {
		t.Errorf("the new plugin process never tried the queued check-ins while Password Safe was down")
	}
	t.Logf("outage %s: %d check-in attempts by the revokes, %d calls by the queue (per minute: %v), calls by endpoint %v",
		upAt.Sub(downAt).Round(time.Second), s.revokeTries, len(s.periodic), perMinute(s.periodic, downAt, upAt), s.byEndpoint)

	// Back: the queue checks every request in (within two rollback ticks).
	var last time.Duration
	for lease, id := range ids {
		r := e.waitStatus(id, pstest.StatusCheckedIn, 5*time.Minute)
		if r.EndedAt == nil || r.EndedAt.Before(upAt) {
			t.Fatalf("request %d of %s ended at %v, before Password Safe was back", id, lease, r.EndedAt)
		}
		last = max(last, r.EndedAt.Sub(upAt))
	}
	t.Logf("every request checked in at most %s after Password Safe came back", last.Round(time.Millisecond))
	// The accounts are free again.
	for _, role := range []string{"expiring", "revoked"} {
		s := e.creds("", role)
		if _, err := v.cli("lease", "revoke", "-sync", s.LeaseID); err != nil {
			t.Fatal(err)
		}
		e.waitStatus(e.requestOf(s.LeaseID), pstest.StatusCheckedIn, 10*time.Second)
	}
}
