package client_test

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"

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
