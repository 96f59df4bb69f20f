package backend_test

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/internal/testproxy"
)

// TestConfigProxy reaches the simulator (over TLS) through a CONNECT proxy
// the test runs, with verify=true and a checkout, and checks how a refused
// or missing proxy is reported.
func TestConfigProxy(t *testing.T) {
	testproxy.ClearEnv(t)
	te := newTestBackend(t, withTLS(), withoutConfig())
	te.secret(testproxy.Password)
	good := testproxy.StartT(t, testproxy.Options{Username: testproxy.User, Password: testproxy.Password})
	down := testproxy.StartT(t, testproxy.Options{})
	downURL := down.URL
	down.Close()
	cfg := func(kv map[string]interface{}) map[string]interface{} {
		m := map[string]interface{}{
			"url": te.srv.URL, "ca_cert": string(te.srv.CACertPEM()), "api_key": pstest.DemoAPIKey,
			"run_as": pstest.DemoUserSvcVault, "verify": true, "max_retries": 1,
			"proxy_url": good.URL, "proxy_username": testproxy.User, "proxy_password": testproxy.Password,
		}
		for k, v := range kv {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name string
		data map[string]interface{}
		want []string // nil = success
	}{
		{"through the proxy", cfg(nil), nil},
		// proxy_password=@file, the file written by echo or an editor
		{"password file ending in a newline", cfg(map[string]interface{}{"proxy_password": testproxy.Password + "\n"}), nil},
		{"password file ending in CRLF", cfg(map[string]interface{}{"proxy_password": testproxy.Password + "\r\n"}), nil},
		{"wrong proxy password", cfg(map[string]interface{}{"proxy_password": testproxy.Password + "-wrong"}),
			[]string{"through the proxy " + good.URL, "407", "check proxy_username and proxy_password"}},
		{"no proxy credentials", cfg(map[string]interface{}{"proxy_username": "", "proxy_password": ""}), []string{"407"}},
		{"proxy down", cfg(map[string]interface{}{"proxy_url": downURL}), []string{"cannot reach Password Safe", "through the proxy " + downURL, "proxyconnect"}},
		{"credentials in proxy_url", cfg(map[string]interface{}{"proxy_url": "http://" + testproxy.User + ":" + testproxy.Password + "@" + strings.TrimPrefix(good.URL, "http://")}),
			[]string{"proxy_url must not contain user info"}},
		{"proxy_url with a path", cfg(map[string]interface{}{"proxy_url": good.URL + "/x?token=" + testproxy.Password}), []string{"proxy_url must be", "REDACTED"}},
		{"password without user", cfg(map[string]interface{}{"proxy_username": ""}), []string{"proxy_password needs proxy_username"}},
		{"credentials without proxy_url", cfg(map[string]interface{}{"proxy_url": ""}), []string{"need proxy_url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := te.sub(t)
			tunnels, refused := good.Tunnels(), good.Refused()
			resp, err := te.write("config", tc.data)
			if tc.want == nil {
				te.mustOK(resp, err)
				if good.Tunnels() <= tunnels {
					t.Fatalf("the proxy opened no tunnel")
				}
				return
			}
			msg := te.mustFail(resp, err, http.StatusBadRequest, tc.want...)
			if strings.Contains(msg, testproxy.Password) || strings.Contains(msg, "Secret-Do") {
				t.Fatalf("the error quotes the proxy password: %s", msg)
			}
			if strings.Contains(tc.name, "password") && good.Refused() > refused+1 {
				t.Fatalf("a refused proxy authentication was retried (%d refusals)", good.Refused()-refused)
			}
		})
	}

	// The last good config stands: sign-in and checkout go through the proxy.
	te.mustOK(te.write("config", cfg(nil)))
	before := good.Tunnels()
	te.e.ResetSessions(t.Context())
	te.writeRole("pg", pgRole)
	te.mustRevoke(te.mustCreds("pg", nil))
	if good.Tunnels() <= before || te.srv.Inspect().Calls(pstest.EndpointCreateRequest) != 1 {
		t.Fatalf("tunnels %d (before %d), POST Requests %d", good.Tunnels(), before, te.srv.Inspect().Calls(pstest.EndpointCreateRequest))
	}
	d := te.mustOK(te.read("config")).Data
	if d["proxy_url"] != good.URL || d["proxy_username"] != testproxy.User || d["proxy_password_set"] != true {
		t.Fatalf("config read: %#v", d)
	}
	if _, ok := d["proxy_password"]; ok || strings.Contains(fmt.Sprint(d), testproxy.Password) {
		t.Fatal("config read returns the proxy password")
	}

	// Removing proxy_url (and its credentials) goes direct again.
	te.mustOK(te.write("config", map[string]interface{}{"proxy_url": "", "proxy_username": "", "proxy_password": "", "verify": true}))
	before = good.Tunnels()
	te.mustRevoke(te.mustCreds("pg", nil))
	if good.Tunnels() != before {
		t.Fatalf("the proxy was used after proxy_url was removed")
	}
}

// TestConfigProxyFromEnvironment: without proxy_url, the Vault server's
// HTTPS_PROXY and NO_PROXY apply, read when a config is written (a new
// session generation). A loopback url is never proxied from the
// environment, so the simulator is named pws.internal.test and the proxy
// maps that name to it.
func TestConfigProxyFromEnvironment(t *testing.T) {
	testproxy.ClearEnv(t)
	te := newTestBackend(t, withTLS(), withoutConfig())
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(te.srv.URL, "https://"))
	p := testproxy.StartT(t, testproxy.Options{Target: "127.0.0.1:" + port})
	cfg := map[string]interface{}{
		"url": "https://pws.internal.test:" + port, "ca_cert": string(te.srv.CACertPEM()), "tls_server_name": "localhost",
		"api_key": pstest.DemoAPIKey, "run_as": pstest.DemoUserSvcVault, "verify": true, "max_retries": 0,
	}
	for _, tc := range []struct {
		name, httpsProxy, noProxy string
		proxied                   bool
		want                      []string
	}{
		{"HTTPS_PROXY", p.URL, "", true, nil},
		{"NO_PROXY names the host", p.URL, "localhost,.internal.test", false, []string{"cannot reach Password Safe", "pws.internal.test"}},
		{"NO_PROXY names another host", p.URL, "pws.example.com", true, nil},
		{"no proxy", "", "", false, []string{"cannot reach Password Safe"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := te.sub(t)
			t.Setenv("HTTPS_PROXY", tc.httpsProxy)
			t.Setenv("NO_PROXY", tc.noProxy)
			before := p.Tunnels()
			resp, err := te.write("config", cfg)
			if tc.want == nil {
				te.mustOK(resp, err)
			} else {
				te.mustFail(resp, err, http.StatusBadRequest, tc.want...)
			}
			if got := p.Tunnels() > before; got != tc.proxied {
				t.Fatalf("proxied = %t, want %t", got, tc.proxied)
			}
		})
	}
}

// TestConfigHTTPSProxy writes configs with an https:// proxy_url through
// HandleRequest (verify=true): the proxy's TLS connection is verified
// against its own name and ca_cert whatever insecure_tls and
// tls_server_name say, and never gets the client certificate, which
// Password Safe does (through the tunnel).
func TestConfigHTTPSProxy(t *testing.T) {
	testproxy.ClearEnv(t)
	te := newTestBackend(t, withTLS(), withoutConfig())
	te.secret(testproxy.Password)
	good := issueCert(t, te.srv.ClientCA(), "vault-engine", time.Time{}, time.Time{})
	te.secretKeys(good)
	p := testproxy.StartT(t, testproxy.Options{TLS: true, Username: testproxy.User, Password: testproxy.Password})
	simCA, proxyCA := string(te.srv.CACertPEM()), string(p.CACertPEM)
	cfg := func(kv map[string]interface{}) map[string]interface{} {
		m := map[string]interface{}{
			"url": te.srv.URL, "ca_cert": simCA + proxyCA, "api_key": pstest.DemoAPIKeyWithClientCert,
			"run_as": pstest.DemoUserSvcVault, "verify": true, "max_retries": 0, "insecure_tls": false, "tls_server_name": "",
			"client_cert": good.cert, "client_key": good.key,
			"proxy_url": p.URL, "proxy_username": testproxy.User, "proxy_password": testproxy.Password,
		}
		for k, v := range kv {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		data    map[string]interface{}
		want    []string // nil = success
		tunnels bool
	}{
		{"client certificate through an https proxy", cfg(nil), nil, true},
		{"tls_server_name for Password Safe, not in the proxy's certificate", cfg(map[string]interface{}{"tls_server_name": "localhost"}), nil, true},
		{"insecure_tls, Password Safe not trusted", cfg(map[string]interface{}{"insecure_tls": true, "ca_cert": proxyCA}), nil, true},
		{"insecure_tls, the proxy not trusted", cfg(map[string]interface{}{"insecure_tls": true, "ca_cert": simCA}),
			[]string{"cannot reach Password Safe", "through the proxy " + p.URL, "certificate"}, false},
		{"the proxy not trusted", cfg(map[string]interface{}{"ca_cert": simCA}),
			[]string{"through the proxy " + p.URL, "certificate signed by unknown authority"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := te.sub(t)
			tunnels, certs := p.Tunnels(), p.ClientCerts()
			signIns := te.srv.Inspect().ClientCertSignIns()["vault-engine"]
			resp, err := te.write("config", tc.data)
			if tc.want == nil {
				te.mustOK(resp, err)
				if got := te.srv.Inspect().ClientCertSignIns()["vault-engine"]; got != signIns+1 {
					t.Fatalf("sign-ins with the client certificate: %d, want %d", got, signIns+1)
				}
			} else {
				msg := te.mustFail(resp, err, http.StatusBadRequest, tc.want...)
				if strings.Contains(msg, testproxy.Password) {
					t.Fatalf("the error quotes the proxy password: %s", msg)
				}
			}
			if p.ClientCerts() != certs {
				t.Fatalf("the client certificate was presented to the proxy")
			}
			if got := p.Tunnels() > tunnels; got != tc.tunnels {
				t.Fatalf("tunnel opened: %t, want %t", got, tc.tunnels)
			}
		})
	}
}

// TestConfigProxyWarnings: proxy_password to a plain http proxy, and plain
// http calls through a proxy, are stored with a warning on every write and
// read.
func TestConfigProxyWarnings(t *testing.T) {
	testproxy.ClearEnv(t)
	te := newTestBackend(t, withoutConfig())
	te.secret(testproxy.Password)
	const (
		unencrypted = "proxy_password crosses the network to the proxy unencrypted"
		seesAll     = "the proxy sees every request and answer in full"
	)
	base := map[string]interface{}{
		"url": "https://pws.example.com", "api_key": pstest.DemoAPIKey, "run_as": pstest.DemoUserSvcVault, "verify": false,
		"allow_plain_http": false, "proxy_url": "", "proxy_username": "", "proxy_password": "",
	}
	with := func(kv map[string]interface{}) map[string]interface{} {
		m := map[string]interface{}{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range kv {
			m[k] = v
		}
		return m
	}
	auth := map[string]interface{}{"proxy_username": testproxy.User, "proxy_password": testproxy.Password}
	plain := map[string]interface{}{"url": te.srv.URL, "allow_plain_http": true}
	merge := func(ms ...map[string]interface{}) map[string]interface{} {
		out := map[string]interface{}{}
		for _, m := range ms {
			for k, v := range m {
				out[k] = v
			}
		}
		return with(out)
	}
	for _, tc := range []struct {
		name string
		data map[string]interface{}
		want map[string]bool
	}{
		{"http proxy with a password", merge(auth, map[string]interface{}{"proxy_url": "http://proxy.internal:3128"}), map[string]bool{unencrypted: true, seesAll: false}},
		{"HTTP proxy (upper case) with a password", merge(auth, map[string]interface{}{"proxy_url": "HTTP://proxy.internal:3128"}), map[string]bool{unencrypted: true}},
		{"http proxy without credentials", merge(map[string]interface{}{"proxy_url": "http://proxy.internal:3128"}), map[string]bool{unencrypted: false}},
		{"https proxy with a password", merge(auth, map[string]interface{}{"proxy_url": "https://proxy.internal:3128"}), map[string]bool{unencrypted: false}},
		{"plain http through a proxy", merge(plain, map[string]interface{}{"proxy_url": "https://proxy.internal:3128"}), map[string]bool{seesAll: true, unencrypted: false}},
		{"plain http through an http proxy with a password", merge(plain, auth, map[string]interface{}{"proxy_url": "http://proxy.internal:3128"}), map[string]bool{seesAll: true, unencrypted: true}},
		{"plain http, no proxy", merge(plain), map[string]bool{seesAll: false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := te.sub(t)
			w := te.mustOK(te.write("config", tc.data))
			r := te.mustOK(te.read("config"))
			for name, resp := range map[string]*logical.Response{"write": w, "read": r} {
				var ws string
				if resp != nil {
					ws = strings.Join(resp.Warnings, "\n")
				}
				for s, want := range tc.want {
					if got := strings.Contains(ws, s); got != want {
						t.Fatalf("%s: warning %q: %t, want %t (%s)", name, s, got, want, ws)
					}
				}
				if strings.Contains(ws, testproxy.Password) {
					t.Fatalf("%s: a warning quotes the proxy password", name)
				}
			}
		})
	}
}
