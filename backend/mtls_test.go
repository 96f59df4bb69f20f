package backend_test

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
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

// keyLines are what of c's private key must never appear in a log line, an
// error or a config read: the whole key (trimmed, as the engine stores it)
// and every whole base64 line of its PEM body. A line that the
// certificate's base64 holds too (a line of public-key bytes only, which
// the certificate carries and may show at the same alignment) is left out.
func keyLines(t testing.TB, c clientCert) []string {
	t.Helper()
	cert := strings.Join(pemBodyLines(c.cert), "")
	out := []string{strings.TrimSpace(c.key)}
	for _, l := range pemBodyLines(c.key) {
		if !strings.Contains(cert, l) {
			out = append(out, l)
		}
	}
	if len(out) < 3 {
		t.Fatalf("the key has %d lines of its own; the test needs at least 2", len(out)-1)
	}
	return out
}

// pemBodyLines are the base64 lines of every PEM block of s.
func pemBodyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "-----") {
			out = append(out, l)
		}
	}
	return out
}

// privateKeyMarker is in every PEM private key's armour; no response or log
// line may hold it.
const privateKeyMarker = "PRIVATE KEY"

// secretKeys registers every key line of certs, and the private-key
// armour, as secrets the log must never hold.
func (te *testEnv) secretKeys(certs ...clientCert) {
	te.t.Helper()
	te.secret(privateKeyMarker)
	for _, c := range certs {
		for _, l := range keyLines(te.t, c) {
			te.secret(l)
		}
	}
}

// assertNoKeyIn fails when s holds a line of any key of certs (and, with
// marker, the private-key armour).
func assertNoKeyIn(t testing.TB, what, s string, marker bool, certs ...clientCert) {
	t.Helper()
	if marker && strings.Contains(s, privateKeyMarker) {
		t.Fatalf("%s holds %q:\n%s", what, privateKeyMarker, s)
	}
	for _, c := range certs {
		for _, l := range keyLines(t, c) {
			if strings.Contains(s, l) {
				t.Fatalf("%s holds a line of a private key:\n%s", what, s)
			}
		}
	}
}

// TestKeyLines: every string keyLines gives occurs in the key's PEM text
// as written (a piece cut across a line break never would, and then a
// check for it finds nothing), and none in the certificate.
func TestKeyLines(t *testing.T) {
	ca, err := pstest.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		c := issueCert(t, ca, fmt.Sprintf("c%d", i), time.Time{}, time.Time{})
		for _, l := range keyLines(t, c) {
			if !strings.Contains(c.key, l) || strings.Contains(c.cert, l) {
				t.Fatalf("key line %q: in the key %t, in the certificate %t", l, strings.Contains(c.key, l), strings.Contains(c.cert, l))
			}
		}
	}
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
	te.secretKeys(good, wrongCA, expired, second)
	keyBody := strings.Join(pemBodyLines(good.key), "\n") + "\n"
	mislabeled := strings.ReplaceAll(good.key, "PRIVATE KEY", "CERTIFICATE")
	encrypted := strings.Replace(strings.Replace(good.key, "-----BEGIN PRIVATE KEY-----\n",
		"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\n", 1),
		"-----END PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", 1)
	lines := pemBodyLines(good.key)
	garbled := strings.Replace(good.key, lines[1], strings.Repeat("A", len(lines[1])), 1)
	const bag = "Bag Attributes\n    localKeyID: 01 00 00 00 \n"
	pkcs12 := bag + "subject=CN=vault-engine\nissuer=CN=passwordsafe-sim client CA\n" + good.cert + bag + "Key Attributes: <No Attributes>\n" + good.key
	publicKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("not really a public key")}))
	caCert := string(te.srv.CACertPEM())
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
		// client_cert and ca_cert are returned by config read: they hold
		// certificates only, never a key (cat cert key, openssl pkcs12 -nodes).
		{"certificate and key in client_cert", cfg(&clientCert{good.cert + good.key, good.key}, nil), []string{"client_cert holds a private key", "client_key"}},
		{"key after the chain in client_cert", cfg(&clientCert{good.cert + string(te.srv.ClientCA().CertPEM()) + good.key, good.key}, nil), []string{"client_cert holds a private key"}},
		{"key before the certificate in client_cert", cfg(&clientCert{good.key + good.cert, good.key}, nil), []string{"client_cert holds a private key"}},
		{"openssl pkcs12 -nodes output as client_cert", cfg(&clientCert{pkcs12, good.key}, nil), []string{"client_cert holds a private key"}},
		{"encrypted key in client_cert", cfg(&clientCert{good.cert + encrypted, good.key}, nil), []string{"client_cert holds a private key"}},
		{"bag attributes in client_cert", cfg(&clientCert{bag + good.cert, good.key}, nil), []string{"client_cert holds text outside its PEM blocks", "Bag Attributes"}},
		{"bare base64 key after the certificate", cfg(&clientCert{good.cert + keyBody, good.key}, nil), []string{"client_cert holds text outside its PEM blocks"}},
		{"another PEM block in client_cert", cfg(&clientCert{good.cert + publicKey, good.key}, nil), []string{"client_cert holds a PEM block that is not a certificate"}},
		{"private key in ca_cert", cfg(&good, map[string]interface{}{"ca_cert": caCert + good.key}), []string{"ca_cert holds a private key"}},
		{"bare base64 key in ca_cert", cfg(&good, map[string]interface{}{"ca_cert": caCert + keyBody}), []string{"ca_cert holds text outside its PEM blocks"}},
		// Wrong pairs: no message quotes a line of the key.
		{"certificate and key swapped", cfg(&clientCert{good.key, good.cert}, nil), []string{"client_cert holds no PEM certificate"}},
		{"key as both", cfg(&clientCert{good.key, good.key}, nil), []string{"client_cert holds no PEM certificate"}},
		{"key labelled as a certificate", cfg(&clientCert{mislabeled, good.key}, nil), []string{"client_cert", "does not parse"}},
		{"encrypted key", cfg(&clientCert{good.cert, encrypted}, nil), []string{"client_key", "encrypted"}},
		{"garbled key", cfg(&clientCert{good.cert, garbled}, nil), []string{"client_key is not"}},
		{"bare base64 key", cfg(&clientCert{good.cert, keyBody}, nil), []string{"client_key holds no PEM private key"}},
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
			assertNoKeyIn(t, "the error", msg, false, good, wrongCA, expired, second)
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
	assertNoKeyIn(t, "config read", fmt.Sprint(d), true, good, wrongCA, expired, second)
}

// TestConfigClientCertReplaced: writing a new certificate signs the old
// sessions out, and the next checkout signs in with the new certificate.
func TestConfigClientCertReplaced(t *testing.T) {
	te := newTestBackend(t, withTLS(), withoutConfig())
	first := issueCert(t, te.srv.ClientCA(), "first", time.Time{}, time.Time{})
	second := issueCert(t, te.srv.ClientCA(), "second", time.Time{}, time.Time{})
	te.secretKeys(first, second)
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
	te.secretKeys(soon)
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

// TestConfigReadStoredKeyInCert: a config stored before client_cert and
// ca_cert were limited to certificates may hold a private key there;
// config read returns only their certificates (and warns), the engine
// still works with it, other writes are refused until client_cert is
// written again.
func TestConfigReadStoredKeyInCert(t *testing.T) {
	te := newTestBackend(t, withTLS(), withoutConfig())
	good := issueCert(t, te.srv.ClientCA(), "vault-engine", time.Time{}, time.Time{})
	te.secretKeys(good)
	caCert, chain := strings.TrimSpace(string(te.srv.CACertPEM())), strings.TrimSpace(string(te.srv.ClientCA().CertPEM()))
	leaf := strings.TrimSpace(good.cert)
	const bag = "Bag Attributes\n    localKeyID: 01 00 00 00 \nsubject=CN=vault-engine\n"
	te.mustOK(te.write("config", map[string]interface{}{
		"url": te.srv.URL, "ca_cert": caCert, "api_key": pstest.DemoAPIKeyWithClientCert,
		"run_as": pstest.DemoUserSvcVault, "client_cert": good.cert, "client_key": good.key, "verify": true,
	}))
	te.writeRole("pg", pgRole)
	for _, tc := range []struct {
		name                   string
		clientCert, caCert     string // as stored
		wantClientCert, wantCA string // as read
		warnClientCert, warnCA bool
	}{
		{"certificates only", good.cert, caCert, leaf, caCert, false, false},
		{"certificate then key", good.cert + good.key, caCert, leaf, caCert, true, false},
		{"key then certificate and chain", good.key + good.cert + chain, caCert, leaf + "\n" + chain, caCert, true, false},
		{"openssl pkcs12 -nodes output", bag + good.cert + bag + good.key, caCert, leaf, caCert, true, false},
		{"bare base64 key after the certificate", good.cert + strings.Join(pemBodyLines(good.key), "\n"), caCert, leaf, caCert, true, false},
		{"key in ca_cert", good.cert, caCert + "\n" + good.key, leaf, caCert, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := te.sub(t)
			cfg, err := te.e.Config(context.Background(), te.s)
			if err != nil {
				t.Fatal(err)
			}
			c := *cfg
			c.ClientCert, c.CACert = strings.TrimSpace(tc.clientCert), strings.TrimSpace(tc.caCert)
			if err := te.s.Put(context.Background(), mustJSONEntry(t, ConfigKey, &c)); err != nil {
				t.Fatal(err)
			}
			te.b.InvalidateKey(context.Background(), ConfigKey)

			resp := te.mustOK(te.read("config"))
			assertNoKeyIn(t, "config read", fmt.Sprint(resp.Data, resp.Warnings), true, good)
			if resp.Data["client_cert"] != tc.wantClientCert || resp.Data["ca_cert"] != tc.wantCA {
				t.Fatalf("config read: client_cert %q, ca_cert %q", resp.Data["client_cert"], resp.Data["ca_cert"])
			}
			if !strings.Contains(fmt.Sprint(resp.Data["client_cert_subject"]), "CN=vault-engine") {
				t.Fatalf("client_cert_subject = %v", resp.Data["client_cert_subject"])
			}
			warnings := strings.Join(resp.Warnings, "\n")
			for field, want := range map[string]bool{"client_cert": tc.warnClientCert, "ca_cert": tc.warnCA} {
				if got := strings.Contains(warnings, field+" as stored holds more than PEM certificates"); got != want {
					t.Fatalf("warning for %s: %t, want %t (%q)", field, got, want, warnings)
				}
			}
			// The engine still signs in with the stored config.
			te.mustRevoke(te.mustCreds("pg", nil))
			if !tc.warnClientCert && !tc.warnCA {
				return
			}
			// Another write is refused, naming the field, until it holds certificates only.
			resp, err = te.write("config", map[string]interface{}{"max_retries": 1, "verify": false})
			msg := te.mustFail(resp, err, http.StatusBadRequest)
			assertNoKeyIn(t, "the error", msg, false, good)
			fix := map[string]interface{}{"verify": true}
			if tc.warnClientCert {
				fix["client_cert"], fix["client_key"] = good.cert, good.key
				if !strings.Contains(msg, "client_cert holds") {
					t.Fatalf("message %q does not name client_cert", msg)
				}
			} else {
				fix["ca_cert"] = caCert
				if !strings.Contains(msg, "ca_cert holds") {
					t.Fatalf("message %q does not name ca_cert", msg)
				}
			}
			if resp := te.mustOK(te.write("config", fix)); resp != nil && strings.Contains(strings.Join(resp.Warnings, " "), "as stored") {
				t.Fatalf("warnings after the fix: %v", resp.Warnings)
			}
		})
	}
}
