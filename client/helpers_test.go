package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// Canonical endpoint names, as pstest counts them.
const (
	epToken        = "POST Auth/connect/token"
	epSignAppin    = "POST Auth/SignAppin"
	epSignout      = "POST Auth/Signout"
	epListRequests = "GET Requests"
	epPostRequests = "POST Requests"
	epAliasRequest = "POST Aliases/{id}/Requests"
	epCheckin      = "PUT Requests/{id}/Checkin"
	epApprove      = "PUT Requests/{id}/Approve"
	epDeny         = "PUT Requests/{id}/Deny"
	epRotate       = "PUT Requests/{id}/RotateOnCheckin"
	epCredentials  = "GET Credentials/{id}"
	epAliasCreds   = "GET Aliases/{id}/Credentials/{id}"
	epManaged      = "GET ManagedAccounts"
	epAliases      = "GET Aliases"
	epAlias        = "GET Aliases/{id}"
	epISA          = "POST ISARequests"
)

// Demo world accounts used below.
const (
	sysDB, acctPostgres = 1, 11 // auto-approve
	acctAppUser         = 12    // exclusive
	sysWeb, acctRoot    = 2, 21 // password + encrypted DSS key
	acctDeploy          = 22    // unencrypted DSS key
	sysFin, acctSA      = 3, 31 // one approval needed (bob, dave)
	sysWin, acctSvcApp  = 4, 41 // App access, application 501
	appBilling          = 501
)

// newSim starts a demo-world simulator, closed when the test ends.
func newSim(t testing.TB) *pstest.Server {
	t.Helper()
	s := pstest.NewServer(pstest.DemoWorld())
	t.Cleanup(s.Close)
	return s
}

// keyConfig signs in with the demo API key as user (svc-vault when empty).
func keyConfig(s *pstest.Server, user string) client.Config {
	if user == "" {
		user = pstest.DemoUserSvcVault
	}
	return client.Config{BaseURL: s.APIURL, APIKey: pstest.DemoAPIKey, RunAs: user}
}

func oauthConfig(s *pstest.Server) client.Config {
	return client.Config{BaseURL: s.APIURL, ClientID: pstest.DemoClientID, ClientSecret: pstest.DemoClientSecret}
}

// newClient builds a client with fast retries that signs out when the test ends.
func newClient(t testing.TB, cfg client.Config) *client.Client {
	t.Helper()
	c, err := client.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	client.SetBackoffForTest(c, time.Millisecond, 5*time.Millisecond)
	t.Cleanup(func() { _ = c.SignOut(context.Background()) })
	return c
}

// userClient is a svc-vault-like client for another demo user.
func userClient(t testing.TB, s *pstest.Server, user string) *client.Client {
	return newClient(t, keyConfig(s, user))
}

func ctxT(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ptr[T any](v T) *T { return &v }

// mustRequest makes a View request for sys/acct and returns its ID.
func mustRequest(t testing.TB, c *client.Client, sys, acct int) int {
	t.Helper()
	id, created, err := c.CreateRequest(ctxT(t), client.RequestInput{
		AccessType: client.AccessView, SystemID: sys, AccountID: acct, DurationMinutes: 30, Reason: "test",
	})
	if err != nil {
		t.Fatalf("CreateRequest(%d/%d): %v", sys, acct, err)
	}
	if !created {
		t.Fatalf("CreateRequest(%d/%d): created = false, want true", sys, acct)
	}
	return id
}

// wantAPIError checks err is an *client.Error with the status (and sub-code when code != 0).
func wantAPIError(t testing.TB, err error, op string, status, code int) *client.Error {
	t.Helper()
	e, ok := client.AsError(err)
	if !ok {
		t.Fatalf("error %v (%T) is not a *client.Error", err, err)
	}
	if e.StatusCode != status {
		t.Fatalf("StatusCode = %d, want %d (err: %v)", e.StatusCode, status, err)
	}
	if code != 0 && e.Code != code {
		t.Fatalf("Code = %d, want %d (err: %v)", e.Code, code, err)
	}
	if op != "" && e.Op != op {
		t.Fatalf("Op = %q, want %q", e.Op, op)
	}
	return e
}

// secretsOf lists every secret a demo-world test could leak.
var demoSecrets = []string{
	pstest.DemoAPIKey, pstest.DemoAPIKeyWithPassword, pstest.DemoClientSecret,
	pstest.DemoPasswordSvcVault, pstest.DemoPasswordAlice, pstest.DemoPasswordBob,
	pstest.DemoPasswordCarol, pstest.DemoPasswordDave, pstest.DemoPasswordErin,
}

func assertNoSecret(t testing.TB, err error, extra ...string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	var e *client.Error
	if errors.As(err, &e) {
		msg += " " + e.Message
	}
	for _, s := range append(append([]string{}, demoSecrets...), extra...) {
		if s != "" && strings.Contains(msg, s) {
			t.Errorf("error %q contains a secret (%.6s...)", msg, s)
		}
	}
}

func isContext(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
