package client_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/internal/testproxy"
)

func TestProxy(t *testing.T) {
	testproxy.ClearEnv(t)
	s := pstest.NewTLSServer(pstest.DemoWorld())
	t.Cleanup(s.Close)
	simHost := strings.TrimPrefix(s.URL, "https://")
	base := func() client.Config {
		return client.Config{BaseURL: s.APIURL, CACertPEM: s.CACertPEM(), APIKey: pstest.DemoAPIKey, RunAs: pstest.DemoUserSvcVault, MaxRetries: 1}
	}
	down := testproxy.StartT(t, testproxy.Options{})
	downURL := down.URL
	down.Close()

	for _, tc := range []struct {
		name       string
		proxy      *testproxy.Proxy
		url        string
		user, pass string
		ok         bool
		want407    bool
	}{
		{"with credentials", testproxy.StartT(t, testproxy.Options{Username: testproxy.User, Password: testproxy.Password}), "", testproxy.User, testproxy.Password, true, false},
		{"without authentication", testproxy.StartT(t, testproxy.Options{}), "", "", "", true, false},
		{"wrong password", testproxy.StartT(t, testproxy.Options{Username: testproxy.User, Password: testproxy.Password}), "", testproxy.User, testproxy.Password + "-wrong", false, true},
		{"no credentials", testproxy.StartT(t, testproxy.Options{Username: testproxy.User, Password: testproxy.Password}), "", "", "", false, true},
		{"proxy down", nil, downURL, testproxy.User, testproxy.Password, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.Inspect().ResetCalls()
			cfg := base()
			cfg.ProxyURL, cfg.ProxyUsername, cfg.ProxyPassword = tc.url, tc.user, tc.pass
			if tc.proxy != nil {
				cfg.ProxyURL = tc.proxy.URL
			}
			c := newClient(t, cfg)
			_, err := c.Aliases(ctxT(t))
			if tc.ok {
				if err != nil {
					t.Fatalf("Aliases through the proxy: %v", err)
				}
				if tc.proxy.Tunnels() < 1 || tc.proxy.Hosts()[0] != simHost {
					t.Fatalf("the proxy opened %d tunnels to %v, want at least 1 to %s", tc.proxy.Tunnels(), tc.proxy.Hosts(), simHost)
				}
				return
			}
			if !errors.Is(err, client.ErrProxy) || !errors.Is(err, client.ErrNotSent) {
				t.Fatalf("err = %v, want ErrProxy and ErrNotSent", err)
			}
			if strings.Contains(err.Error(), testproxy.Password) || strings.Contains(err.Error(), "Secret-Do") {
				t.Fatalf("the error quotes the proxy password: %v", err)
			}
			if n := s.Inspect().Calls(epSignAppin); n != 0 {
				t.Fatalf("SignAppin reached the server %d times", n)
			}
			pe, is407 := client.AsProxyError(err)
			if tc.want407 {
				if !is407 || pe.StatusCode != 407 || !strings.Contains(err.Error(), "407") {
					t.Fatalf("err = %v, want the proxy's 407", err)
				}
				if tc.proxy.Refused() != 1 {
					t.Fatalf("the proxy refused %d times, want 1 (a 407 is not retried)", tc.proxy.Refused())
				}
			} else if is407 || !strings.Contains(err.Error(), "proxyconnect") {
				t.Fatalf("err = %v, want a failed connection to the proxy", err)
			}
		})
	}
}

// TestProxyFromEnvironment: without ProxyURL, HTTPS_PROXY and NO_PROXY as
// they are when the client is made (not cached per process). A loopback
// server is never proxied from the environment, so the simulator is
// reached under a made-up name the proxy maps to it.
func TestProxyFromEnvironment(t *testing.T) {
	testproxy.ClearEnv(t)
	s := pstest.NewTLSServer(pstest.DemoWorld())
	t.Cleanup(s.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(s.URL, "https://"))
	const name = "pws.internal.test"
	p := testproxy.StartT(t, testproxy.Options{Target: "127.0.0.1:" + port})
	cfg := client.Config{BaseURL: "https://" + name + ":" + port + pstest.APIBasePath, CACertPEM: s.CACertPEM(), TLSServerName: "localhost",
		APIKey: pstest.DemoAPIKey, RunAs: pstest.DemoUserSvcVault, MaxRetries: -1}

	t.Run("HTTPS_PROXY", func(t *testing.T) {
		t.Setenv("HTTPS_PROXY", p.URL)
		if _, err := newClient(t, cfg).Aliases(ctxT(t)); err != nil {
			t.Fatalf("Aliases through HTTPS_PROXY: %v", err)
		}
		if p.Tunnels() != 1 || p.Hosts()[0] != name+":"+port {
			t.Fatalf("tunnels %d to %v", p.Tunnels(), p.Hosts())
		}
	})
	t.Run("NO_PROXY", func(t *testing.T) {
		before := p.Tunnels()
		t.Setenv("HTTPS_PROXY", p.URL)
		t.Setenv("NO_PROXY", "example.com,.internal.test")
		_, err := newClient(t, cfg).Aliases(ctxT(t))
		// Direct, the made-up name does not resolve.
		var dns *net.DNSError
		if !errors.As(err, &dns) || errors.Is(err, client.ErrProxy) {
			t.Fatalf("err = %v, want a direct connection's DNS failure", err)
		}
		if p.Tunnels() != before {
			t.Fatalf("the proxy was used despite NO_PROXY")
		}
	})
	t.Run("credentials in HTTPS_PROXY", func(t *testing.T) {
		auth := testproxy.StartT(t, testproxy.Options{Target: "127.0.0.1:" + port, Username: testproxy.User, Password: testproxy.Password})
		u, _ := url.Parse(auth.URL)
		u.User = url.UserPassword(testproxy.User, testproxy.Password)
		t.Setenv("HTTPS_PROXY", u.String())
		if _, err := newClient(t, cfg).Aliases(ctxT(t)); err != nil {
			t.Fatalf("Aliases through an authenticating HTTPS_PROXY: %v", err)
		}
		if auth.Tunnels() != 1 {
			t.Fatalf("tunnels %d", auth.Tunnels())
		}
	})
	t.Run("read per client", func(t *testing.T) {
		t.Setenv("HTTPS_PROXY", "")
		_, err := newClient(t, cfg).Aliases(ctxT(t))
		var dns *net.DNSError
		if !errors.As(err, &dns) {
			t.Fatalf("err = %v, want a direct connection's DNS failure once HTTPS_PROXY is unset", err)
		}
	})
}

func TestProxyConfig(t *testing.T) {
	for _, tc := range []struct {
		name            string
		url, user, pass string
		want            string
	}{
		{"user info in the url", "http://u:" + testproxy.Password + "@proxy:3128", "", "", "user info"},
		{"scheme", "socks5://proxy:1080", "", "", "http://host:port"},
		{"path", "http://proxy:3128/x", "", "", "only scheme, host and port"},
		{"password without user", "http://proxy:3128", "", testproxy.Password, "needs ProxyUsername"},
		{"credentials without url", "", testproxy.User, testproxy.Password, "apply to ProxyURL only"},
		{"colon in the user name", "http://proxy:3128", "a:b", testproxy.Password, "':'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.New(client.Config{BaseURL: "https://pws.example.com", APIKey: "k", RunAs: "u",
				ProxyURL: tc.url, ProxyUsername: tc.user, ProxyPassword: tc.pass})
			if !errors.Is(err, client.ErrInvalidInput) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want ErrInvalidInput with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testproxy.Password) {
				t.Fatalf("the error quotes the password")
			}
		})
	}
	cfg := client.Config{BaseURL: "https://pws.example.com", APIKey: "k", RunAs: "u", ProxyURL: "http://proxy:3128", ProxyUsername: testproxy.User, ProxyPassword: testproxy.Password}
	if out := cfg.String(); strings.Contains(out, testproxy.Password) || !strings.Contains(out, "proxy:3128") {
		t.Fatalf("Config printed as %s", out)
	}
}

// TestHTTPSProxy: the TLS connection to an https:// proxy is the proxy's
// own: verified (roots: the system's and CACertPEM) against the proxy's
// host name whatever InsecureSkipVerify and TLSServerName say, and without
// the client certificate, which goes to Password Safe only (through the
// tunnel). Direct connections (no proxy, or a host the environment's proxy
// does not cover) keep the client certificate, TLSServerName and
// InsecureSkipVerify.
func TestHTTPSProxy(t *testing.T) {
	testproxy.ClearEnv(t)
	s := pstest.NewTLSServer(pstest.DemoWorld())
	t.Cleanup(s.Close)
	certPEM, keyPEM, err := s.ClientCA().Issue("vault-engine", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	p := testproxy.StartT(t, testproxy.Options{TLS: true, Username: testproxy.User, Password: testproxy.Password})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(s.URL, "https://"))
	envProxy := testproxy.StartT(t, testproxy.Options{TLS: true, Target: "127.0.0.1:" + port})
	both := func(pems ...[]byte) []byte { return bytes.Join(pems, []byte("\n")) }

	const (
		ok         = ""
		proxyTLS   = "proxy TLS" // the handshake with the proxy fails: ErrProxy, a certificate error, no CONNECT sent
		psTLS      = "PS TLS"    // the tunnel opens, the handshake with Password Safe fails verification
		psHostname = "PS host"   // a direct handshake with Password Safe fails on its name
	)
	for _, tc := range []struct {
		name    string
		cfg     func(*client.Config)
		env     [2]string // HTTPS_PROXY, NO_PROXY
		proxy   *testproxy.Proxy
		want    string
		tunnels bool
	}{
		{"https proxy: the client certificate goes to Password Safe only", func(c *client.Config) {
			c.CACertPEM = both(s.CACertPEM(), p.CACertPEM)
		}, [2]string{}, p, ok, true},
		{"https proxy, tls_server_name for Password Safe (not in the proxy's certificate)", func(c *client.Config) {
			c.CACertPEM, c.TLSServerName = both(s.CACertPEM(), p.CACertPEM), "localhost"
		}, [2]string{}, p, ok, true},
		{"https proxy, tls_server_name that is not Password Safe's", func(c *client.Config) {
			c.CACertPEM, c.TLSServerName = both(s.CACertPEM(), p.CACertPEM), "pws.example.com"
		}, [2]string{}, p, psTLS, true},
		{"https proxy not trusted, insecure_tls: the proxy is still verified", func(c *client.Config) {
			c.CACertPEM, c.InsecureSkipVerify = s.CACertPEM(), true
		}, [2]string{}, p, proxyTLS, false},
		{"https proxy trusted, Password Safe not, insecure_tls: Password Safe's verification is skipped", func(c *client.Config) {
			c.CACertPEM, c.InsecureSkipVerify = p.CACertPEM, true
		}, [2]string{}, p, ok, true},
		{"https proxy trusted, Password Safe not", func(c *client.Config) {
			c.CACertPEM = p.CACertPEM
		}, [2]string{}, p, psTLS, true},
		{"https proxy named by a name its certificate lacks", func(c *client.Config) {
			c.CACertPEM, c.ProxyURL = both(s.CACertPEM(), p.CACertPEM), strings.Replace(p.URL, "127.0.0.1", "localhost", 1)
		}, [2]string{}, p, proxyTLS, false},
		{"HTTPS_PROXY=https://...", func(c *client.Config) {
			c.CACertPEM, c.ProxyURL, c.ProxyUsername, c.ProxyPassword = both(s.CACertPEM(), envProxy.CACertPEM), "", "", ""
			c.BaseURL, c.TLSServerName = "https://pws.internal.test:"+port+pstest.APIBasePath, "localhost"
		}, [2]string{envProxy.URL, ""}, envProxy, ok, true},
		{"HTTPS_PROXY=https://..., insecure_tls, proxy not trusted", func(c *client.Config) {
			c.CACertPEM, c.ProxyURL, c.ProxyUsername, c.ProxyPassword = nil, "", "", ""
			c.BaseURL, c.InsecureSkipVerify = "https://pws.internal.test:"+port+pstest.APIBasePath, true
		}, [2]string{envProxy.URL, ""}, envProxy, proxyTLS, false},
		// Direct: HTTPS_PROXY names an https proxy that the host is exempt from
		// (loopback, and NO_PROXY too).
		{"direct (HTTPS_PROXY set, a loopback host is not proxied), tls_server_name", func(c *client.Config) {
			c.CACertPEM, c.ProxyURL, c.ProxyUsername, c.ProxyPassword, c.TLSServerName = s.CACertPEM(), "", "", "", "localhost"
		}, [2]string{envProxy.URL, "127.0.0.1"}, envProxy, ok, false},
		{"direct (HTTPS_PROXY set, a loopback host is not proxied), tls_server_name that is not Password Safe's", func(c *client.Config) {
			c.CACertPEM, c.ProxyURL, c.ProxyUsername, c.ProxyPassword, c.TLSServerName = s.CACertPEM(), "", "", "", "pws.example.com"
		}, [2]string{envProxy.URL, "127.0.0.1"}, envProxy, psHostname, false},
		{"direct (HTTPS_PROXY set, a loopback host is not proxied), insecure_tls", func(c *client.Config) {
			c.CACertPEM, c.ProxyURL, c.ProxyUsername, c.ProxyPassword, c.InsecureSkipVerify = nil, "", "", "", true
		}, [2]string{envProxy.URL, "127.0.0.1"}, envProxy, ok, false},
		{"direct (no proxy), not trusted", func(c *client.Config) {
			c.CACertPEM, c.ProxyURL, c.ProxyUsername, c.ProxyPassword = nil, "", "", ""
		}, [2]string{}, envProxy, psTLS, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("HTTPS_PROXY", tc.env[0])
			t.Setenv("NO_PROXY", tc.env[1])
			s.Inspect().ResetCalls()
			tunnels, certs, refused := tc.proxy.Tunnels(), tc.proxy.ClientCerts(), tc.proxy.Refused()
			signIns := s.Inspect().ClientCertSignIns()["vault-engine"]
			cfg := client.Config{BaseURL: s.APIURL, APIKey: pstest.DemoAPIKeyWithClientCert, RunAs: pstest.DemoUserSvcVault, MaxRetries: -1,
				ClientCertPEM: certPEM, ClientKeyPEM: keyPEM, ProxyURL: p.URL, ProxyUsername: testproxy.User, ProxyPassword: testproxy.Password}
			tc.cfg(&cfg)
			_, err := newClient(t, cfg).Aliases(ctxT(t))
			if got := tc.proxy.ClientCerts() - certs; got != 0 {
				t.Errorf("the client certificate was presented to the proxy (%d times)", got)
			}
			if got := tc.proxy.Tunnels() > tunnels; got != tc.tunnels {
				t.Errorf("tunnel opened: %t, want %t", got, tc.tunnels)
			}
			if tc.proxy.Refused() != refused {
				t.Errorf("the proxy refused the tunnel")
			}
			var unknown x509.UnknownAuthorityError
			var host x509.HostnameError
			switch tc.want {
			case ok:
				if err != nil {
					t.Fatalf("Aliases: %v", err)
				}
				if got := s.Inspect().ClientCertSignIns()["vault-engine"]; got != signIns+1 {
					t.Fatalf("sign-ins with the client certificate: %d, want %d", got, signIns+1)
				}
				return
			case proxyTLS:
				if !errors.Is(err, client.ErrProxy) || !errors.Is(err, client.ErrNotSent) || (!errors.As(err, &unknown) && !errors.As(err, &host)) {
					t.Fatalf("err = %v, want ErrProxy, ErrNotSent and a certificate error", err)
				}
			case psTLS:
				if errors.Is(err, client.ErrProxy) || (!errors.As(err, &unknown) && !errors.As(err, &host)) {
					t.Fatalf("err = %v, want Password Safe's certificate error", err)
				}
			case psHostname:
				if errors.Is(err, client.ErrProxy) || !errors.As(err, &host) {
					t.Fatalf("err = %v, want Password Safe's certificate error for its name", err)
				}
			}
			if n := s.Inspect().Calls(epSignAppin); n != 0 {
				t.Fatalf("SignAppin reached Password Safe %d times", n)
			}
		})
	}
}

// TestTransportProtocols: building the TLS connections the transport
// dials itself changes no protocol: HTTP/2 with Password Safe when it
// offers it, direct or through a tunnel, as before; HTTP/1.1 with the
// proxy. A client certificate allows one renegotiation (IIS asks for the
// certificate that way), only when configured.
func TestTransportProtocols(t *testing.T) {
	testproxy.ClearEnv(t)
	var mu sync.Mutex
	var protos []int
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		protos = append(protos, r.ProtoMajor)
		mu.Unlock()
		http.Error(w, "no", http.StatusNotFound)
	}))
	up.EnableHTTP2 = true
	up.StartTLS()
	t.Cleanup(up.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw})
	issuer, err := pstest.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, _ := issuer.Issue("vault-engine", time.Time{}, time.Time{})
	proxy := testproxy.StartT(t, testproxy.Options{TLS: true})
	for _, tc := range []struct {
		name  string
		cfg   func(*client.Config)
		proto int
	}{
		{"direct", func(*client.Config) {}, 2},
		{"direct, client certificate", func(c *client.Config) { c.ClientCertPEM, c.ClientKeyPEM = certPEM, keyPEM }, 2},
		{"through an https proxy", func(c *client.Config) {
			c.CACertPEM, c.ProxyURL = append(append([]byte{}, ca...), proxy.CACertPEM...), proxy.URL
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			protos = nil
			mu.Unlock()
			cfg := client.Config{BaseURL: up.URL + "/api", CACertPEM: ca, APIKey: "k123456", RunAs: "u", MaxRetries: -1}
			tc.cfg(&cfg)
			c := newClient(t, cfg)
			_, _ = c.SignIn(ctxT(t))
			mu.Lock()
			defer mu.Unlock()
			if len(protos) == 0 || protos[0] != tc.proto {
				t.Fatalf("HTTP versions seen by Password Safe %v, want %d", protos, tc.proto)
			}
			want := tls.RenegotiateNever
			if cfg.ClientCertPEM != nil {
				want = tls.RenegotiateOnceAsClient
			}
			if got := client.TransportForTest(c).TLSClientConfig.Renegotiation; got != want {
				t.Fatalf("Renegotiation = %v, want %v", got, want)
			}
		})
	}
}

// TestProxyCredentialsRedacted: a proxy that echoes the Proxy-Authorization
// it got (base64 of user:password) in its refusal does not get it into the
// error, whether the credentials come from the config or the environment.
func TestProxyCredentialsRedacted(t *testing.T) {
	testproxy.ClearEnv(t)
	s := pstest.NewTLSServer(pstest.DemoWorld())
	t.Cleanup(s.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(s.URL, "https://"))
	const sent = "Sent-Pr0xy-Password"
	basic := base64.StdEncoding.EncodeToString([]byte(testproxy.User + ":" + sent))
	p := testproxy.StartT(t, testproxy.Options{Username: testproxy.User, Password: testproxy.Password, EchoAuth: true, Target: "127.0.0.1:" + port})
	envURL, _ := url.Parse(p.URL)
	envURL.User = url.UserPassword(testproxy.User, sent)
	for _, tc := range []struct {
		name       string
		httpsProxy string
		cfg        func(*client.Config)
	}{
		{"ProxyURL", "", func(c *client.Config) { c.ProxyURL, c.ProxyUsername, c.ProxyPassword = p.URL, testproxy.User, sent }},
		{"HTTPS_PROXY", envURL.String(), func(c *client.Config) { c.BaseURL = "https://pws.internal.test:" + port + pstest.APIBasePath }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("HTTPS_PROXY", tc.httpsProxy)
			cfg := client.Config{BaseURL: s.APIURL, CACertPEM: s.CACertPEM(), TLSServerName: "localhost",
				APIKey: pstest.DemoAPIKey, RunAs: pstest.DemoUserSvcVault, MaxRetries: -1}
			tc.cfg(&cfg)
			_, err := newClient(t, cfg).SignIn(ctxT(t))
			pe, ok := client.AsProxyError(err)
			if !ok || pe.StatusCode != http.StatusProxyAuthRequired {
				t.Fatalf("err = %v, want the proxy's 407", err)
			}
			for _, out := range []string{err.Error(), pe.Status, fmt.Sprintf("%v %+v", err, err)} {
				if strings.Contains(out, basic) || strings.Contains(out, basic[:12]) || strings.Contains(out, sent) {
					t.Fatalf("the error holds the proxy credentials: %s", out)
				}
			}
			if !strings.Contains(err.Error(), "you sent Basic [redacted]") {
				t.Fatalf("err = %v, want the echoed credentials redacted", err)
			}
		})
	}
}
