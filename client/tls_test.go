package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

func TestTLS(t *testing.T) {
	s := pstest.NewTLSServer(pstest.DemoWorld())
	t.Cleanup(s.Close)
	// 127.0.0.1 and localhost are both in the certificate.
	localhostURL := strings.Replace(s.APIURL, "127.0.0.1", "localhost", 1)
	for _, tc := range []struct {
		name   string
		mutate func(*client.Config)
		ok     bool
	}{
		{"custom CA", func(c *client.Config) { c.CACertPEM = s.CACertPEM() }, true},
		{"custom CA, host name", func(c *client.Config) { c.CACertPEM = s.CACertPEM(); c.BaseURL = localhostURL }, true},
		{"server name override that matches", func(c *client.Config) { c.CACertPEM = s.CACertPEM(); c.TLSServerName = "localhost" }, true},
		{"no CA: verification fails", func(*client.Config) {}, false},
		{"server name that does not match", func(c *client.Config) { c.CACertPEM = s.CACertPEM(); c.TLSServerName = "pws.example.com" }, false},
		{"insecure skip verify", func(c *client.Config) { c.InsecureSkipVerify = true }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.Inspect().ResetCalls()
			cfg := client.Config{BaseURL: s.APIURL, APIKey: pstest.DemoAPIKey, RunAs: pstest.DemoUserSvcVault}
			tc.mutate(&cfg)
			c := newClient(t, cfg)
			_, err := c.Aliases(ctxT(t))
			if tc.ok {
				if err != nil {
					t.Fatalf("Aliases over TLS: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("TLS verification passed; it must fail")
			}
			var unknown x509.UnknownAuthorityError
			var host x509.HostnameError
			var verify *tls.CertificateVerificationError
			if !errors.As(err, &unknown) && !errors.As(err, &host) && !errors.As(err, &verify) {
				t.Errorf("err = %v, want a certificate verification error", err)
			}
			if n := s.Inspect().Calls(epSignAppin); n != 0 {
				t.Errorf("SignAppin reached the server %d times over an unverified connection", n)
			}
		})
	}

	c := newClient(t, client.Config{BaseURL: s.APIURL, APIKey: "k", RunAs: "u"})
	tr := client.TransportForTest(c)
	if tr.TLSClientConfig.MinVersion != tls.VersionTLS12 || tr.TLSClientConfig.InsecureSkipVerify {
		t.Errorf("default TLS config: min %x, insecure %t", tr.TLSClientConfig.MinVersion, tr.TLSClientConfig.InsecureSkipVerify)
	}
	if tr.MaxIdleConnsPerHost != client.DefaultMaxConcurrent {
		t.Errorf("MaxIdleConnsPerHost = %d, want %d", tr.MaxIdleConnsPerHost, client.DefaultMaxConcurrent)
	}

	// A TLS client against the plain-HTTP simulator fails fast, without retries.
	plain := newSim(t)
	c = newClient(t, client.Config{BaseURL: strings.Replace(plain.APIURL, "http://", "https://", 1), APIKey: pstest.DemoAPIKey, RunAs: "svc-vault"})
	if _, err := c.SignIn(ctxT(t)); err == nil {
		t.Error("https to an http server succeeded")
	}
}

func TestKeepAliveReuse(t *testing.T) {
	s := pstest.NewTLSServer(pstest.DemoWorld())
	t.Cleanup(s.Close)
	c := newClient(t, client.Config{BaseURL: s.APIURL, APIKey: pstest.DemoAPIKey, RunAs: "svc-vault", CACertPEM: s.CACertPEM()})
	hc := client.HTTPClientForTest(c)
	var dials atomic.Int32
	tr := client.TransportForTest(c)
	orig := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return orig(ctx, network, addr)
	}
	_ = hc
	ctx := ctxT(t)
	for range 20 {
		if _, err := c.Aliases(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d dials for 21 sequential calls, want 1 (keep-alive)", n)
	}
}
