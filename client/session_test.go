package client_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

func TestPSAuthHeader(t *testing.T) {
	for _, tc := range []struct {
		name, key, runAs, pwd, want string
	}{
		{"no password", "K", "svc", "", "PS-Auth key=K; runas=svc;"},
		{"password", "K", "svc", "p w]d", "PS-Auth key=K; runas=svc; pwd=[p w]d];"},
		{"domain user", "K", `EXAMPLE\erin`, "", `PS-Auth key=K; runas=EXAMPLE\erin;`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := client.PSAuthHeader(tc.key, tc.runAs, tc.pwd); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSignIn(t *testing.T) {
	s := newSim(t)
	for _, tc := range []struct {
		name     string
		cfg      client.Config
		wantUser string
	}{
		{"api key", keyConfig(s, ""), pstest.DemoUserSvcVault},
		{"api key with password", client.Config{BaseURL: s.APIURL, APIKey: pstest.DemoAPIKeyWithPassword,
			RunAs: pstest.DemoUserAlice, Password: pstest.DemoPasswordAlice}, pstest.DemoUserAlice},
		{"domain user", keyConfig(s, pstest.DemoUserErin), pstest.DemoUserErin},
		{"oauth", oauthConfig(s), pstest.DemoUserSvcVault},
		{"trailing slash in BaseURL", client.Config{BaseURL: s.APIURL + "/", APIKey: pstest.DemoAPIKey, RunAs: "svc-vault"}, pstest.DemoUserSvcVault},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.Inspect().ResetCalls()
			c := newClient(t, tc.cfg)
			u, err := c.SignIn(ctxT(t))
			if err != nil {
				t.Fatalf("SignIn: %v", err)
			}
			if !strings.EqualFold(u.UserName, tc.wantUser) {
				t.Errorf("UserName = %q, want %q", u.UserName, tc.wantUser)
			}
			if u.UserID == 0 {
				t.Errorf("UserID = 0")
			}
			// Later calls ride on the session cookie: no new sign-in.
			for range 3 {
				if _, err := c.ListRequests(ctxT(t), "", ""); err != nil {
					t.Fatalf("ListRequests: %v", err)
				}
			}
			if n := s.Inspect().Calls(epSignAppin); n != 1 {
				t.Errorf("SignAppin calls = %d, want 1", n)
			}
		})
	}
}

func TestSignInFailures(t *testing.T) {
	s := newSim(t)
	for _, tc := range []struct {
		name   string
		cfg    client.Config
		setup  func()
		op     string
		status int
		calls  string // endpoint that must have been called exactly once (no retry)
	}{
		{name: "wrong api key", cfg: client.Config{BaseURL: s.APIURL, APIKey: strings.Repeat("0", 128), RunAs: "svc-vault"},
			op: epSignAppin, status: 401, calls: epSignAppin},
		{name: "unknown user", cfg: keyConfig(s, "mallory"), op: epSignAppin, status: 401, calls: epSignAppin},
		{name: "password missing", cfg: client.Config{BaseURL: s.APIURL, APIKey: pstest.DemoAPIKeyWithPassword, RunAs: pstest.DemoUserAlice},
			op: epSignAppin, status: 401, calls: epSignAppin},
		{name: "wrong password", cfg: client.Config{BaseURL: s.APIURL, APIKey: pstest.DemoAPIKeyWithPassword, RunAs: pstest.DemoUserAlice, Password: pstest.DemoPasswordBob},
			op: epSignAppin, status: 401, calls: epSignAppin},
		{name: "wrong client secret", cfg: client.Config{BaseURL: s.APIURL, ClientID: pstest.DemoClientID, ClientSecret: strings.Repeat("x", 48)},
			op: epToken, calls: epToken},
		{name: "unknown client", cfg: client.Config{BaseURL: s.APIURL, ClientID: "nobody", ClientSecret: pstest.DemoClientSecret},
			op: epToken, calls: epToken},
		{name: "licence invalid", cfg: keyConfig(s, ""), setup: func() { s.Edit().SetLicenseInvalid(true) },
			op: epSignAppin, status: 403, calls: epSignAppin},
		{name: "api version disabled", cfg: keyConfig(s, ""), setup: func() { s.Edit().SetAPIDisabled(true) },
			op: epSignAppin, status: 410, calls: epSignAppin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.Inspect().ResetCalls()
			s.Edit().SetLicenseInvalid(false)
			s.Edit().SetAPIDisabled(false)
			if tc.setup != nil {
				tc.setup()
			}
			c := newClient(t, tc.cfg)
			_, err := c.ListRequests(ctxT(t), "", "")
			if err == nil {
				t.Fatal("ListRequests succeeded, want a sign-in error")
			}
			e, ok := client.AsError(err)
			if !ok {
				t.Fatalf("error %v is not a *client.Error", err)
			}
			if e.Op != tc.op {
				t.Errorf("Op = %q, want %q", e.Op, tc.op)
			}
			if tc.status != 0 && e.StatusCode != tc.status {
				t.Errorf("StatusCode = %d, want %d", e.StatusCode, tc.status)
			}
			if tc.status == 0 && (e.StatusCode < 400 || e.StatusCode >= 500) {
				t.Errorf("StatusCode = %d, want a 4xx", e.StatusCode)
			}
			if n := s.Inspect().Calls(tc.calls); n != 1 {
				t.Errorf("%s calls = %d, want 1 (a 4xx is not retried)", tc.calls, n)
			}
			if n := s.Inspect().Calls(epListRequests); n != 0 {
				t.Errorf("GET Requests reached the server %d times without a session", n)
			}
			assertNoSecret(t, err, tc.cfg.APIKey, tc.cfg.ClientSecret, tc.cfg.Password)
		})
	}
	s.Edit().SetLicenseInvalid(false)
	s.Edit().SetAPIDisabled(false)
}

func TestLazySignInOnce(t *testing.T) {
	s := newSim(t)
	c := newClient(t, keyConfig(s, ""))
	if n := s.Inspect().Calls(epSignAppin); n != 0 {
		t.Fatalf("New signed in (%d calls); it must not", n)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.ListRequests(context.Background(), "", "")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Inspect().Calls(epSignAppin); n != 1 {
		t.Errorf("SignAppin calls = %d, want 1 for 50 concurrent first calls", n)
	}
}

func TestSignOut(t *testing.T) {
	s := newSim(t)
	c := newClient(t, keyConfig(s, ""))
	ctx := ctxT(t)

	// Before any sign-in: nothing to do.
	if err := c.SignOut(ctx); err != nil {
		t.Fatal(err)
	}
	if n := s.Inspect().Calls(epSignout); n != 0 {
		t.Errorf("Signout calls = %d before any sign-in, want 0", n)
	}
	if _, err := c.SignIn(ctx); err != nil {
		t.Fatal(err)
	}
	live := s.Inspect().Sessions()
	for range 3 {
		if err := c.SignOut(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Inspect().Calls(epSignout); n != 1 {
		t.Errorf("Signout calls = %d, want 1", n)
	}
	if got := s.Inspect().Sessions(); got != live-1 {
		t.Errorf("live sessions = %d after SignOut, want %d", got, live-1)
	}
	// The next call signs in again by itself.
	if _, err := c.ListRequests(ctx, "", ""); err != nil {
		t.Fatal(err)
	}
	if n := s.Inspect().Calls(epSignAppin); n != 2 {
		t.Errorf("SignAppin calls = %d, want 2", n)
	}
	// A session the server already dropped still signs out cleanly.
	s.Edit().ExpireSessions()
	if err := c.SignOut(ctx); err != nil {
		t.Errorf("SignOut of an expired session: %v", err)
	}
}

func TestReSignInOn401(t *testing.T) {
	s := newSim(t)
	c := newClient(t, keyConfig(s, ""))
	ctx := ctxT(t)
	if _, err := c.SignIn(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		call func() error
		ep   string
	}{
		{"GET", func() error { _, err := c.ListRequests(ctx, "", ""); return err }, epListRequests},
		{"POST Requests", func() error {
			_, _, err := c.CreateRequest(ctx, client.RequestInput{SystemID: 100, AccountID: 1001, DurationMinutes: 5})
			return err
		}, epPostRequests},
		{"idle timeout on the sim clock", func() error {
			s.Advance(21 * time.Minute)
			_, err := c.Aliases(ctx)
			return err
		}, epAliases},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name != "idle timeout on the sim clock" {
				s.Edit().ExpireSessions()
			}
			before := s.Inspect().Calls(epSignAppin)
			reqsBefore := len(s.Inspect().Requests())
			if err := tc.call(); err != nil {
				t.Fatalf("call after session expiry: %v", err)
			}
			if n := s.Inspect().Calls(epSignAppin) - before; n != 1 {
				t.Errorf("SignAppin calls = %d, want 1", n)
			}
			if n := s.Inspect().Calls(tc.ep); n < 2 {
				t.Errorf("%s calls = %d, want the 401 and the repeat", tc.ep, n)
			}
			if tc.ep == epPostRequests {
				if n := len(s.Inspect().Requests()) - reqsBefore; n != 1 {
					t.Errorf("requests created = %d, want exactly 1", n)
				}
			}
			s.Inspect().ResetCalls()
		})
	}
}

func TestReSignInOnlyOnce(t *testing.T) {
	s := newSim(t)
	c := newClient(t, keyConfig(s, ""))
	ctx := ctxT(t)
	if _, err := c.SignIn(ctx); err != nil {
		t.Fatal(err)
	}
	s.Inspect().ResetCalls()
	s.Faults().Inject(pstest.Fault{Endpoint: epListRequests, Status: 401, Count: 3})
	_, err := c.ListRequests(ctx, "", "")
	wantAPIError(t, err, epListRequests, 401, 0)
	if !client.IsUnauthorized(err) {
		t.Errorf("IsUnauthorized(%v) = false", err)
	}
	if n := s.Inspect().Calls(epSignAppin); n != 1 {
		t.Errorf("SignAppin calls = %d, want 1 (one re-sign-in per call)", n)
	}
	if n := s.Inspect().Calls(epListRequests); n != 2 {
		t.Errorf("GET Requests calls = %d, want 2", n)
	}
}

func TestConcurrentReSignIn(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*pstest.Server) client.Config
		// expireTokens also revokes OAuth tokens: the one sign-in is then a
		// SignAppin refused with the cached token, one token call, and a
		// SignAppin with the new token.
		expireTokens       bool
		signAppins, tokens int
	}{
		{"api key", func(s *pstest.Server) client.Config { return keyConfig(s, "") }, false, 1, 0},
		{"oauth", oauthConfig, false, 1, 0},
		{"oauth, tokens revoked too", oauthConfig, true, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			c := newClient(t, tc.cfg(s))
			if _, err := c.SignIn(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			for round := range 3 {
				s.Edit().ExpireSessions()
				if tc.expireTokens {
					s.Edit().ExpireTokens()
				}
				before, tokBefore := s.Inspect().Calls(epSignAppin), s.Inspect().Calls(epToken)
				start := make(chan struct{})
				var wg sync.WaitGroup
				errs := make(chan error, 50)
				for i := range 50 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						var err error
						if i%2 == 0 {
							_, err = c.ListRequests(context.Background(), "", "")
						} else {
							_, err = c.Credential(context.Background(), 999999, "")
							if client.IsNotFound(err) {
								err = nil
							}
						}
						errs <- err
					}()
				}
				close(start)
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Fatalf("round %d: %v", round, err)
					}
				}
				if n := s.Inspect().Calls(epSignAppin) - before; n != tc.signAppins {
					t.Errorf("round %d: SignAppin calls = %d for 50 goroutines after ExpireSessions, want exactly %d", round, n, tc.signAppins)
				}
				if n := s.Inspect().Calls(epToken) - tokBefore; n != tc.tokens {
					t.Errorf("round %d: token calls = %d, want %d", round, n, tc.tokens)
				}
			}
		})
	}
}

func TestOAuthTokenCached(t *testing.T) {
	s := newSim(t)
	c := newClient(t, oauthConfig(s))
	ctx := ctxT(t)
	for range 100 {
		if _, err := c.SignIn(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Inspect().Calls(epToken); n != 1 {
		t.Errorf("token calls = %d for 100 sign-ins, want 1", n)
	}
	if n := s.Inspect().Calls(epSignAppin); n != 100 {
		t.Errorf("SignAppin calls = %d, want 100", n)
	}

	// The server's clock passes the token's life (ours does not): the cached
	// token is refused once, a new one is fetched, and the call succeeds.
	s.Advance(2 * time.Hour)
	s.Inspect().ResetCalls()
	if _, err := c.ListRequests(ctx, "", ""); err != nil {
		t.Fatalf("ListRequests after token expiry: %v", err)
	}
	if n := s.Inspect().Calls(epToken); n != 1 {
		t.Errorf("token calls after server-side expiry = %d, want 1", n)
	}
}

func TestSignInContextCancel(t *testing.T) {
	s := newSim(t)
	s.Faults().Inject(pstest.Fault{Endpoint: epSignAppin, Latency: 2 * time.Second})
	c := newClient(t, keyConfig(s, ""))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.ListRequests(ctx, "", "")
	if err == nil || !isContext(err) {
		t.Fatalf("err = %v, want a context error", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v, want the context's 100ms", d)
	}
	s.Faults().Clear()
	// A waiter whose own context is fine is not failed by the leader's deadline.
	if _, err := c.ListRequests(ctxT(t), "", ""); err != nil {
		t.Fatalf("after cancel: %v", err)
	}
}
