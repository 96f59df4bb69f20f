package client_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

const opChange = "POST ManagedAccounts/{id}/Credentials/Change"

func TestChangeCredentials(t *testing.T) {
	const given = "Given-New-Pw-77!"
	cases := []struct {
		name    string
		user    string
		account int
		in      client.ChangeCredentialsInput
		fault   *pstest.Fault
		status  int // 0: success
		code    int
		invalid bool
		outcome client.Outcome
		calls   int // POSTs that reached the simulator
		changed bool
		check   func(t *testing.T, s *pstest.Server)
	}{
		{name: "generated", account: acctPostgres, calls: 1, changed: true, check: func(t *testing.T, s *pstest.Server) {
			ch := s.Inspect().CredentialChanges(acctPostgres)
			if len(ch) != 1 || ch[0].PasswordGiven || ch[0].Queue || !ch[0].UpdateSystem {
				t.Fatalf("recorded %+v", ch)
			}
		}},
		{name: "given, queued, stored only", account: acctPostgres, calls: 1, changed: true,
			in: client.ChangeCredentialsInput{Password: given, Queue: true, UpdateSystem: ptr(false)},
			check: func(t *testing.T, s *pstest.Server) {
				if s.Inspect().Password(acctPostgres) != given {
					t.Fatal("the given password was not set")
				}
				ch := s.Inspect().CredentialChanges(acctPostgres)
				if len(ch) != 1 || !ch[0].PasswordGiven || !ch[0].Queue || ch[0].UpdateSystem {
					t.Fatalf("recorded %+v", ch)
				}
			}},
		{name: "no account management", user: pstest.DemoUserAlice, account: acctPostgres, status: 403, code: client.CodeNoPermission, calls: 1},
		{name: "unknown account", account: 99, status: 404, calls: 1},
		{name: "bad account ID", account: 0, invalid: true},
		{name: "private key without public key", account: 21, invalid: true, in: client.ChangeCredentialsInput{PrivateKey: "kkey-secret-1"}},
		{name: "passphrase without key", account: 21, invalid: true, in: client.ChangeCredentialsInput{Passphrase: "pp-secret-77"}},
		{name: "NUL in password", account: 21, invalid: true, in: client.ChangeCredentialsInput{Password: "a\x00b"}},
		{name: "503 before: not repeated, unknown", account: acctPostgres, in: client.ChangeCredentialsInput{Password: given},
			fault: &pstest.Fault{Endpoint: opChange, Status: 503, Count: 1}, status: 503, outcome: client.OutcomeUnknown, calls: 1},
		{name: "503 after the change: not repeated, unknown", account: acctPostgres, in: client.ChangeCredentialsInput{Password: given},
			fault: &pstest.Fault{Endpoint: opChange, Status: 503, Count: 1, AfterHandler: true}, status: 503, outcome: client.OutcomeUnknown, calls: 1, changed: true},
		{name: "dropped after the change: unknown", account: acctPostgres,
			fault: &pstest.Fault{Endpoint: opChange, Drop: true, Count: 1, AfterHandler: true}, status: -1, outcome: client.OutcomeUnknown, calls: 1, changed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			c := userClient(t, s, tc.user)
			if tc.fault != nil {
				s.Faults().Inject(*tc.fault)
			}
			before := s.Inspect().Password(acctPostgres)
			err := c.ChangeCredentials(ctxT(t), tc.account, tc.in)
			assertNoSecret(t, err, given, "kkey-secret-1", "pp-secret-77")
			switch {
			case tc.invalid:
				if !errors.Is(err, client.ErrInvalidInput) || client.OutcomeOf(err) != client.OutcomeNone {
					t.Fatalf("err = %v, want invalid input", err)
				}
			case tc.status == 0:
				if err != nil {
					t.Fatal(err)
				}
			case tc.status == -1:
				if err == nil || client.OutcomeOf(err) != tc.outcome {
					t.Fatalf("err = %v, want outcome %v", err, tc.outcome)
				}
			default:
				wantAPIError(t, err, opChange, tc.status, tc.code)
				if client.OutcomeOf(err) != tc.outcome {
					t.Fatalf("OutcomeOf = %v, want %v", client.OutcomeOf(err), tc.outcome)
				}
			}
			if n := s.Inspect().Calls(pstest.EndpointChangeCredentials); n != tc.calls {
				t.Fatalf("%d calls reached the simulator, want %d", n, tc.calls)
			}
			if changed := s.Inspect().Password(acctPostgres) != before; changed != tc.changed {
				t.Fatalf("changed = %v, want %v", changed, tc.changed)
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

// A server that echoes the request body in its error must not get the new
// password into the error, nor any long piece of it.
func TestChangeCredentialsRedactsEcho(t *testing.T) {
	sim, err := pstest.New(pstest.DemoWorld())
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/Credentials/Change") {
			b, _ := io.ReadAll(r.Body)
			w.WriteHeader(http.StatusBadRequest)
			_, _ = fmt.Fprintf(w, "%q", "cannot use "+string(b))
			return
		}
		sim.Handler().ServeHTTP(w, r)
	}))
	defer ts.Close()
	c := newClient(t, client.Config{BaseURL: ts.URL + pstest.APIBasePath, APIKey: pstest.DemoAPIKey, RunAs: pstest.DemoUserSvcVault})
	const pw = "Echoed-Secret-Password-123456!"
	err = c.ChangeCredentials(ctxT(t), acctPostgres, client.ChangeCredentialsInput{Password: pw})
	wantAPIError(t, err, opChange, 400, 0)
	assertNoSecret(t, err, pw, pw[:12], pw[10:22])
	if !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("err = %v, want the echo redacted", err)
	}
	if s := fmt.Sprintf("%v %+v %#v", client.ChangeCredentialsInput{Password: pw}, client.ChangeCredentialsInput{Password: pw},
		client.ChangeCredentialsInput{Password: pw}); strings.Contains(s, pw) {
		t.Fatalf("input prints its password: %s", s)
	}
}
