//go:build e2e && soak

package e2e

import (
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// Soak tests: faults whose proof takes many minutes of Vault's own timers
// (make soak). Both run in parallel, each with its own Vault.

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
