package backend_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// clientCert is a certificate and its key, in PEM.
type clientCert struct{ cert, key string }

func issueCert(t *testing.T, ca *pstest.CA, cn string, from, to time.Time) clientCert {
	t.Helper()
	c, k, err := ca.Issue(cn, from, to)
	if err != nil {
		t.Fatal(err)
	}
	return clientCert{string(c), string(k)}
}

// keyPieces are the PEM key and a distinctive piece of it, neither of
// which may appear in a log line, an error or a config read. The piece is
// from the private scalar of the PKCS #8 P-256 key pstest issues: the
// key's tail is the public key, which the certificate holds too.
func keyPieces(key string) []string {
	lines := strings.Split(strings.TrimSpace(key), "\n")
	body := strings.Join(lines[1:len(lines)-1], "")
	return []string{key, body[52:76]}
}

// TestConfigClientCert writes configs with client certificates through
// HandleRequest; verify=true signs in to the simulator over TLS with the
// registration that requires a certificate.
func TestConfigClientCert(t *testing.T) {
	te := newTestBackend(t, withTLS(), withoutConfig())
	other, err := pstest.NewCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	now := te.srv.Now()
	good := issueCert(t, te.srv.ClientCA(), "vault-engine", time.Time{}, time.Time{})
	wrongCA := issueCert(t, other, "vault-engine", time.Time{}, time.Time{})
	expired := issueCert(t, te.srv.ClientCA(), "vault-engine", now.Add(-48*time.Hour), now.Add(-time.Hour))
	second := issueCert(t, te.srv.ClientCA(), "second", time.Time{}, time.Time{})
	for _, c := range []clientCert{good, wrongCA, expired, second} {
		for _, p := range keyPieces(c.key)[1:] {
			te.secret(p)
		}
	}
	cfg := func(c *clientCert, kv map[string]interface{}) map[string]interface{} {
		m := map[string]interface{}{
			"url": te.srv.URL, "ca_cert": string(te.srv.CACertPEM()), "api_key": pstest.DemoAPIKeyWithClientCert,
			"run_as": pstest.DemoUserSvcVault, "verify": true, "max_retries": 0,
		}
		m["client_cert"], m["client_key"] = "", "" // a config update keeps fields not given
		if c != nil {
			m["client_cert"], m["client_key"] = c.cert, c.key
		}
		for k, v := range kv {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name string
		data map[string]interface{}
		want []string // "" = success
	}{
		{"good certificate", cfg(&good, nil), nil},
		{"good certificate, chain with the CA", cfg(&clientCert{good.cert + string(te.srv.ClientCA().CertPEM()), good.key}, nil), nil},
		{"no certificate", cfg(nil, nil), []string{"HTTP 401", "set client_cert and client_key"}},
		{"another CA", cfg(&wrongCA, nil), []string{"HTTP 401", "does not accept client_cert"}},
		{"expired", cfg(&expired, nil), []string{"client_cert", "expired on", "write a current one"}},
		{"expired, verify=false", cfg(&expired, map[string]interface{}{"verify": false}), []string{"expired on"}},
		{"key of another certificate", cfg(&clientCert{good.cert, second.key}, nil), []string{"client_key is not the private key of client_cert"}},
		{"certificate without key", cfg(&clientCert{good.cert, ""}, nil), []string{"set together"}},
		{"key without certificate", cfg(&clientCert{"", good.key}, nil), []string{"set together"}},
		{"not PEM", cfg(&clientCert{"not a certificate", good.key}, nil), []string{"client_cert holds no PEM certificate"}},
		{"key not PEM", cfg(&clientCert{good.cert, "not a key"}, nil), []string{"client_key holds no PEM private key"}},
		{"plain http", cfg(&good, map[string]interface{}{"url": "http://127.0.0.1:1", "allow_plain_http": true, "verify": false}), []string{"needs an https url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := te.sub(t)
			resp, err := te.write("config", tc.data)
			var msg string
			if tc.want == nil {
				te.mustOK(resp, err)
			} else {
				msg = te.mustFail(resp, err, http.StatusBadRequest, tc.want...)
			}
			for _, c := range []clientCert{good, wrongCA, expired, second} {
				for _, p := range keyPieces(c.key) {
					if strings.Contains(msg, p) {
						t.Fatalf("the error quotes a private key: %s", msg)
					}
				}
			}
		})
	}

	// The last good write stands: a checkout works, and config read shows
	// the certificate but never the key.
	te.mustOK(te.write("config", cfg(&good, nil)))
	te.writeRole("pg", pgRole)
	te.mustRevoke(te.mustCreds("pg", nil))
	d := te.mustOK(te.read("config")).Data
	if d["client_cert"] != strings.TrimSpace(good.cert) || d["client_key_set"] != true || !strings.Contains(fmt.Sprint(d["client_cert_subject"]), "CN=vault-engine") ||
		d["client_cert_not_after"] == "" || !strings.Contains(fmt.Sprint(d["client_cert_issuer"]), "passwordsafe-sim client CA") {
		t.Fatalf("config read: %#v", d)
	}
	if _, ok := d["client_key"]; ok {
		t.Fatal("config read has client_key")
	}
	dump := fmt.Sprint(d)
	for _, p := range keyPieces(good.key) {
		if strings.Contains(dump, p) {
			t.Fatal("config read returns the private key")
		}
	}
}

// TestConfigClientCertReplaced: writing a new certificate signs the old
// sessions out, and the next checkout signs in with the new certificate.
func TestConfigClientCertReplaced(t *testing.T) {
	te := newTestBackend(t, withTLS(), withoutConfig())
	first := issueCert(t, te.srv.ClientCA(), "first", time.Time{}, time.Time{})
	second := issueCert(t, te.srv.ClientCA(), "second", time.Time{}, time.Time{})
	for _, c := range []clientCert{first, second} {
		for _, p := range keyPieces(c.key)[1:] {
			te.secret(p)
		}
	}
	te.mustOK(te.write("config", map[string]interface{}{
		"url": te.srv.URL, "ca_cert": string(te.srv.CACertPEM()), "api_key": pstest.DemoAPIKeyWithClientCert,
		"run_as": pstest.DemoUserSvcVault, "client_cert": first.cert, "client_key": first.key, "verify": false,
	}))
	te.writeRole("pg", pgRole)
	held := te.mustCreds("pg", nil)
	if te.srv.Inspect().Sessions() != 1 || te.srv.Inspect().ClientCertSignIns()["first"] != 1 {
		t.Fatalf("sessions %d, sign-ins by certificate %v", te.srv.Inspect().Sessions(), te.srv.Inspect().ClientCertSignIns())
	}

	for _, tc := range []struct {
		name   string
		data   map[string]interface{}
		signIn string // the certificate of the next sign-in; "" = the write sign-in fails
	}{
		{"replace, verified", map[string]interface{}{"client_cert": second.cert, "client_key": second.key, "verify": true}, "second"},
		{"replace back, not verified", map[string]interface{}{"client_cert": first.cert, "client_key": first.key, "verify": false}, "first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := te.sub(t)
			in := te.srv.Inspect()
			signouts, signins := in.Calls(pstest.EndpointSignout), in.ClientCertSignIns()[tc.signIn]
			te.mustOK(te.write("config", tc.data))
			te.e.WaitSessionSignouts()
			if got := in.Calls(pstest.EndpointSignout); got != signouts+1 {
				t.Fatalf("sign-outs = %d, want %d: the old certificate's session must be signed out", got, signouts+1)
			}
			// The held lease's revocation and a new checkout sign in once, with the new certificate.
			te.mustRevoke(held)
			held = te.mustCreds("pg", nil)
			if got := in.ClientCertSignIns()[tc.signIn]; got != signins+1 {
				t.Fatalf("sign-ins with %q = %d, want %d (%v)", tc.signIn, got, signins+1, in.ClientCertSignIns())
			}
			if in.Sessions() != 1 {
				t.Fatalf("upstream sessions = %d, want 1", in.Sessions())
			}
		})
	}
	te.mustRevoke(held)

	// Removing the certificate: the registration refuses the sign-in.
	resp, err := te.write("config", map[string]interface{}{"client_cert": "", "client_key": "", "verify": true})
	te.mustFail(resp, err, http.StatusBadRequest, "HTTP 401", "client certificate")
}

func TestConfigClientCertWarnings(t *testing.T) {
	te := newTestBackend(t, withTLS())
	soon := issueCert(t, te.srv.ClientCA(), "soon", time.Time{}, te.srv.Now().Add(10*24*time.Hour))
	te.secret(keyPieces(soon.key)[1])
	resp := te.mustOK(te.write("config", map[string]interface{}{"client_cert": soon.cert, "client_key": soon.key, "verify": true}))
	if resp == nil || !strings.Contains(strings.Join(resp.Warnings, " "), "client_cert expires on") {
		t.Fatalf("no warning of the coming expiry: %#v", resp)
	}
	// Stored, then expired: every read says so.
	te.srv.Advance(11 * 24 * time.Hour)
	resp = te.mustOK(te.read("config"))
	if !strings.Contains(strings.Join(resp.Warnings, " "), "client_cert expired on") {
		t.Fatalf("no warning of the expired certificate: %v", resp.Warnings)
	}
}
