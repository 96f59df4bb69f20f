package client_test

import (
	"strings"
	"testing"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

func TestCredentialTypes(t *testing.T) {
	s := newSim(t)
	c := newClient(t, keyConfig(s, ""))
	ctx := ctxT(t)
	root := mustRequest(t, c, sysWeb, acctRoot)
	deploy := mustRequest(t, c, sysWeb, acctDeploy)
	for _, tc := range []struct {
		name   string
		id     int
		typ    client.CredentialType
		want   func(string) bool
		status int // 0 = success
	}{
		{"default is the password", root, "", func(v string) bool { return v == s.Inspect().Password(acctRoot) }, 0},
		{"password", root, client.CredentialPassword, func(v string) bool { return v == s.Inspect().Password(acctRoot) }, 0},
		{"encrypted dss key", root, client.CredentialDSSKey, func(v string) bool {
			return strings.HasPrefix(v, "-----BEGIN DSA") && strings.Contains(v, "ENCRYPTED") && strings.Contains(v, "\n")
		}, 0},
		{"passphrase", root, client.CredentialPassphrase, func(v string) bool { return v == pstest.DemoPassphrase21 }, 0},
		{"unencrypted dss key", deploy, client.CredentialDSSKey, func(v string) bool {
			return strings.HasPrefix(v, "-----BEGIN DSA") && !strings.Contains(v, "ENCRYPTED")
		}, 0},
		{"no passphrase on an unencrypted key", deploy, client.CredentialPassphrase, nil, -1},
		{"unknown request", 987654, "", nil, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := c.Credential(ctx, tc.id, tc.typ)
			switch {
			case tc.status == 0 && err != nil:
				t.Fatalf("Credential: %v", err)
			case tc.status == 0 && !tc.want(v):
				t.Errorf("Credential = %.40q...", v)
			case tc.status > 0:
				wantAPIError(t, err, epCredentials, tc.status, 0)
			case tc.status < 0 && err == nil:
				t.Errorf("Credential succeeded: %.20q", v)
			}
			if err != nil && v != "" {
				t.Errorf("a value came back with an error")
			}
		})
	}
	// Alias credential: each type lands in its own field.
	aid, _, err := c.CreateAliasRequest(ctx, 2, client.RequestInput{DurationMinutes: 5, ConflictOption: client.ConflictReuse})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		typ  client.CredentialType
		want func(*client.AliasCredential) bool
	}{
		{client.CredentialPassword, func(a *client.AliasCredential) bool { return a.Password == s.Inspect().Password(acctRoot) }},
		{client.CredentialDSSKey, func(a *client.AliasCredential) bool { return strings.HasPrefix(a.PrivateKey, "-----BEGIN DSA") }},
		{client.CredentialPassphrase, func(a *client.AliasCredential) bool { return a.Passphrase == pstest.DemoPassphrase21 }},
	} {
		ac, err := c.AliasCredential(ctx, 2, aid, tc.typ)
		if err != nil {
			t.Fatalf("AliasCredential(%s): %v", tc.typ, err)
		}
		if !tc.want(ac) || ac.AliasName != "web-root" {
			t.Errorf("AliasCredential(%s) fields wrong (alias %q)", tc.typ, ac.AliasName)
		}
	}
	// After check-in: 404 for both forms.
	if err := c.Checkin(ctx, root, ""); err != nil {
		t.Fatal(err)
	}
	_, err = c.Credential(ctx, root, "")
	wantAPIError(t, err, epCredentials, 404, 0)
	if err := c.Checkin(ctx, aid, ""); err != nil && !client.IsNotFound(err) {
		t.Fatal(err)
	}
	_, err = c.AliasCredential(ctx, 2, aid, "")
	wantAPIError(t, err, epAliasCreds, 404, 0)
}

func TestCredentialExpires(t *testing.T) {
	s := newSim(t)
	c := newClient(t, keyConfig(s, ""))
	ctx := ctxT(t)
	id := mustRequest(t, c, sysDB, acctPostgres) // 30 minutes
	s.Advance(31 * 60e9)
	// The session idled out too; the call signs in again, then sees the expiry.
	_, err := c.Credential(ctx, id, "")
	wantAPIError(t, err, epCredentials, 404, 0)
	if st, _ := s.Inspect().Request(id); st.Status != pstest.StatusExpired {
		t.Errorf("status = %s, want expired", st.Status)
	}
}
