package compat

import (
	"fmt"
	"testing"

	managed_accounts "github.com/BeyondTrust/go-client-library-passwordsafe/api/managed_account"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// TestLibraryEconomy counts the upstream calls BeyondTrust's own library
// makes per secret, the baseline for the engine's upstream economy
// (scripts/bench.sh prints it beside the engine's figures; the engine's
// side is TestUpstreamEconomy in backend/). Two flows:
//
//   - per secret: sign in, GetSecret (account lookup, request, credential,
//     check-in), sign out — how a program or CI job that fetches one secret
//     uses the library;
//   - one session: sign in once, GetSecret for each secret, sign out once.
func TestLibraryEconomy(t *testing.T) {
	const n = 20
	creds := credentials{ApiKey: pstest.DemoAPIKey + ";runas=" + pstest.DemoUserSvcVault + ";"}
	for _, flow := range []string{"per-secret", "one-session"} {
		t.Run(flow, func(t *testing.T) {
			s := pstest.NewTLSServer(pstest.DemoWorld())
			defer s.Close()
			var accounts *managed_accounts.ManagedAccountstObj
			signOut := func() {}
			open := func() {
				auth, logger := signIn(t, s, creds)
				a, err := managed_accounts.NewManagedAccountObj(*auth, logger)
				if err != nil {
					t.Fatal(err)
				}
				accounts = a
				signOut = func() {
					if err := auth.SignOut(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if flow == "one-session" {
				open()
			}
			for i := 0; i < n; i++ {
				if flow == "per-secret" {
					open()
				}
				path := fmt.Sprintf("load-%02d/svc", i%40)
				if got, err := accounts.GetSecret(path, "/"); err != nil || got == "" {
					t.Fatalf("GetSecret(%s): %v", path, err)
				}
				if flow == "per-secret" {
					signOut()
				}
			}
			if flow == "one-session" {
				signOut()
			}
			calls := s.Inspect().CallCounts()
			total := 0
			for _, v := range calls {
				total += v
			}
			signIns := calls[pstest.EndpointSignAppin]
			t.Logf("ECONOMY library flow=%s n=%d calls=%v calls_per_secret=%.3f signins=%d signins_per_1000=%.1f",
				flow, n, calls, float64(total)/n, signIns, float64(signIns)*1000/n)
			if n := len(s.Inspect().ActiveRequests()); n != 0 {
				t.Errorf("%d requests left active", n)
			}
		})
	}
}
