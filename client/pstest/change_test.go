package pstest

import (
	"net/http"
	"strings"
	"testing"
)

func TestChangeCredentials(t *testing.T) {
	s := newDemo(t)
	svc := signIn(t, s, DemoUserSvcVault)
	alice := signIn(t, s, DemoUserAlice)
	isa := signIn(t, s, DemoUserISA)
	const path = "ManagedAccounts/11/Credentials/Change"
	cases := []struct {
		name    string
		user    *psUser
		path    string
		body    any
		want    int
		sub     string
		changed bool
	}{
		{"requestor without account management", alice, path, map[string]any{}, 403, "4031", false},
		{"ISA without account management", isa, path, map[string]any{}, 403, "4031", false},
		{"unknown account", svc, "ManagedAccounts/99/Credentials/Change", map[string]any{}, 404, "Managed Account not found", false},
		{"malformed JSON", svc, path, "{", 400, "", false},
		{"unknown field", svc, path, map[string]any{"NewPassword": "x"}, 400, "unknown field", false},
		{"private key without public key", svc, path, map[string]any{"PrivateKey": "k"}, 400, "PublicKey", false},
		{"passphrase without key", svc, path, map[string]any{"Passphrase": "p"}, 400, "Passphrase", false},
		{"generated", svc, path, map[string]any{}, 204, "", true},
		{"empty body", svc, path, nil, 204, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Inspect().Password(11)
			st, body := tc.user.do(http.MethodPost, tc.path, tc.body)
			if st != tc.want || !strings.Contains(body, tc.sub) {
				t.Fatalf("got %d %s, want %d containing %q", st, body, tc.want, tc.sub)
			}
			if changed := s.Inspect().Password(11) != before; changed != tc.changed {
				t.Fatalf("password changed: %v, want %v", changed, tc.changed)
			}
		})
	}

	// A given password, queued, the stored credential only; the path is
	// case-insensitive and Credentials is Password's old name.
	if st, body := svc.do(http.MethodPost, "managedaccounts/11/credentials/change",
		map[string]any{"Password": "Given-Pw-1!", "Queue": true, "UpdateSystem": false}); st != 204 {
		t.Fatalf("given password: %d %s", st, body)
	}
	if got := s.Inspect().Password(11); got != "Given-Pw-1!" {
		t.Fatalf("password %q", got)
	}
	if st, body := svc.do(http.MethodPost, path, map[string]any{"Credentials": "Old-Name-Pw-1!"}); st != 204 || s.Inspect().Password(11) != "Old-Name-Pw-1!" {
		t.Fatalf("Credentials field: %d %s", st, body)
	}
	chs := s.Inspect().CredentialChanges(11)
	if len(chs) != 4 {
		t.Fatalf("%d changes recorded: %+v", len(chs), chs)
	}
	if c := chs[2]; !c.PasswordGiven || !c.Queue || c.UpdateSystem || c.UserName != DemoUserSvcVault || c.SystemID != 1 {
		t.Fatalf("recorded %+v", c)
	}
	if c := chs[0]; c.PasswordGiven || c.Queue || !c.UpdateSystem {
		t.Fatalf("defaults recorded as %+v", c)
	}
	if len(s.Inspect().CredentialChanges(0)) != 4 || len(s.Inspect().CredentialChanges(21)) != 0 {
		t.Fatal("CredentialChanges filter")
	}

	// A key change keeps the passphrase with it.
	if st, body := svc.do(http.MethodPost, "ManagedAccounts/21/Credentials/Change",
		map[string]any{"PrivateKey": "new-key", "PublicKey": "ssh-dss AAAA", "Passphrase": "phrase"}); st != 204 {
		t.Fatalf("key change: %d %s", st, body)
	}
	if c := s.Inspect().CredentialChanges(21); len(c) != 1 || !c[0].KeyChanged {
		t.Fatalf("key change recorded as %+v", c)
	}

	// Account management can be granted and taken away.
	s.Edit().SetAccountManagement(DemoUserAlice, true)
	if st, body := alice.do(http.MethodPost, path, map[string]any{}); st != 204 {
		t.Fatalf("granted: %d %s", st, body)
	}
	s.Edit().SetAccountManagement(DemoUserSvcVault, false)
	if st, _ := svc.do(http.MethodPost, path, map[string]any{}); st != 403 {
		t.Fatalf("revoked: %d", st)
	}
	if st, _ := svc.do(http.MethodGet, path, nil); st != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", st)
	}
}
