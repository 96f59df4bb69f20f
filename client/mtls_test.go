package client_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// TestClientCertificate signs in over TLS with client certificates against
// registrations that require one and one that does not.
func TestClientCertificate(t *testing.T) {
	s := pstest.NewTLSServer(pstest.DemoWorld())
	t.Cleanup(s.Close)
	issue := func(ca *pstest.CA, cn string, from, to time.Time) [2][]byte {
		t.Helper()
		c, k, err := ca.Issue(cn, from, to)
		if err != nil {
			t.Fatal(err)
		}
		return [2][]byte{c, k}
	}
	other, err := pstest.NewCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good := issue(s.ClientCA(), "good", time.Time{}, time.Time{})
	wrongCA := issue(other, "wrong-ca", time.Time{}, time.Time{})
	expired := issue(s.ClientCA(), "expired", now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	notYet := issue(s.ClientCA(), "not-yet", now.Add(24*time.Hour), now.Add(48*time.Hour))

	for _, tc := range []struct {
		name   string
		key    string // API key
		oauth  bool
		cert   *[2][]byte
		ok     bool
		wantCN string // counted by the simulator as a valid certificate sign-in
	}{
		{"required, good certificate", pstest.DemoAPIKeyWithClientCert, false, &good, true, "good"},
		{"required, no certificate", pstest.DemoAPIKeyWithClientCert, false, nil, false, ""},
		{"required, another CA", pstest.DemoAPIKeyWithClientCert, false, &wrongCA, false, ""},
		{"required, expired", pstest.DemoAPIKeyWithClientCert, false, &expired, false, ""},
		{"required, not yet valid", pstest.DemoAPIKeyWithClientCert, false, &notYet, false, ""},
		{"not required, good certificate", pstest.DemoAPIKey, false, &good, true, "good"},
		{"not required, another CA is ignored", pstest.DemoAPIKey, false, &wrongCA, true, ""},
		{"OAuth with a certificate", "", true, &good, true, "good"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.Inspect().ResetCalls()
			before := s.Inspect().ClientCertSignIns()[tc.wantCN]
			cfg := client.Config{BaseURL: s.APIURL, CACertPEM: s.CACertPEM(), MaxRetries: -1}
			if tc.oauth {
				cfg.ClientID, cfg.ClientSecret = pstest.DemoClientID, pstest.DemoClientSecret
			} else {
				cfg.APIKey, cfg.RunAs = tc.key, pstest.DemoUserSvcVault
			}
			if tc.cert != nil {
				cfg.ClientCertPEM, cfg.ClientKeyPEM = tc.cert[0], tc.cert[1]
			}
			c := newClient(t, cfg)
			_, err := c.SignIn(ctxT(t))
			if tc.ok {
				if err != nil {
					t.Fatalf("SignIn: %v", err)
				}
				if _, err := c.Aliases(ctxT(t)); err != nil {
					t.Fatalf("Aliases: %v", err)
				}
				if tc.wantCN != "" {
					if got := s.Inspect().ClientCertSignIns()[tc.wantCN]; got != before+1 {
						t.Fatalf("certificate sign-ins for %q: %d, want %d", tc.wantCN, got, before+1)
					}
				}
				return
			}
			if !client.IsUnauthorized(err) {
				t.Fatalf("SignIn = %v, want 401", err)
			}
			if !strings.Contains(err.Error(), "client certificate") {
				t.Errorf("the 401 does not say it is about the client certificate: %v", err)
			}
			if n := s.Inspect().Calls(epSignAppin); n != 1 {
				t.Errorf("SignAppin calls = %d, want 1 (a 401 is not retried)", n)
			}
		})
	}

	t.Run("the simulator's clock expires a certificate", func(t *testing.T) {
		short := issue(s.ClientCA(), "short", time.Time{}, s.Now().Add(time.Hour))
		cfg := client.Config{BaseURL: s.APIURL, CACertPEM: s.CACertPEM(), APIKey: pstest.DemoAPIKeyWithClientCert,
			RunAs: pstest.DemoUserSvcVault, ClientCertPEM: short[0], ClientKeyPEM: short[1], MaxRetries: -1}
		if _, err := newClient(t, cfg).SignIn(ctxT(t)); err != nil {
			t.Fatalf("SignIn: %v", err)
		}
		s.Advance(2 * time.Hour)
		if _, err := newClient(t, cfg).SignIn(ctxT(t)); !client.IsUnauthorized(err) {
			t.Fatalf("SignIn after the certificate expired on the simulator's clock = %v, want 401", err)
		}
	})
}

func TestClientCertificateConfig(t *testing.T) {
	ca, err := pstest.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	certA, keyA, _ := ca.Issue("a", time.Time{}, time.Time{})
	_, keyB, _ := ca.Issue("b", time.Time{}, time.Time{})
	encrypted := []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n")
	for _, tc := range []struct {
		name      string
		cert, key []byte
		want      string
	}{
		{"cert without key", certA, nil, "set together"},
		{"key without cert", nil, keyA, "set together"},
		{"not PEM", []byte("nonsense"), keyA, "no PEM certificate"},
		{"key not PEM", certA, []byte("nonsense"), "no PEM private key"},
		{"encrypted key", certA, encrypted, "encrypted"},
		{"another certificate's key", certA, keyB, "not the private key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.New(client.Config{BaseURL: "https://pws.example.com", APIKey: "k", RunAs: "u",
				ClientCertPEM: tc.cert, ClientKeyPEM: tc.key})
			if !errors.Is(err, client.ErrInvalidInput) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want ErrInvalidInput with %q", err, tc.want)
			}
			for _, k := range [][]byte{keyA, keyB} {
				for _, l := range keyLines(t, k) {
					if strings.Contains(err.Error(), l) {
						t.Fatalf("the error quotes the key")
					}
				}
			}
		})
	}
	cfg := client.Config{BaseURL: "https://pws.example.com", APIKey: "k", RunAs: "u", ClientCertPEM: certA, ClientKeyPEM: keyA}
	if _, err := client.New(cfg); err != nil {
		t.Fatalf("New with a good pair: %v", err)
	}
	for _, out := range []string{cfg.String(), fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg)} {
		if strings.Contains(out, "PRIVATE KEY") || !strings.Contains(out, "client certificate: true") {
			t.Fatalf("Config printed as %s", out)
		}
		for _, l := range keyLines(t, keyA) {
			if strings.Contains(out, l) {
				t.Fatalf("Config printed as %s", out)
			}
		}
	}
}

// keyLines are the whole base64 lines of a PEM private key (and the key
// itself): what must never appear in an error or a printed Config. (A
// piece cut from the joined body may span a line break and then never
// occurs in PEM text, so it would find nothing.)
func keyLines(t testing.TB, p []byte) []string {
	t.Helper()
	out := []string{strings.TrimSpace(string(p))}
	for _, l := range strings.Split(string(p), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "-----") {
			out = append(out, l)
		}
	}
	if len(out) < 3 {
		t.Fatalf("the key has %d lines", len(out)-1)
	}
	return out
}
