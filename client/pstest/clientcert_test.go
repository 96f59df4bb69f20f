package pstest

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestClientCertRegistration: a registration with RequireClientCert signs
// in only over a TLS connection that presented a valid certificate of the
// server's ClientCA; the handshake itself never requires one.
func TestClientCertRegistration(t *testing.T) {
	s := NewTLSServer(DemoWorld())
	t.Cleanup(s.Close)
	other, err := NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	pair := func(ca *CA, from, to time.Time) *tls.Certificate {
		c, k, err := ca.Issue("cn", from, to)
		if err != nil {
			t.Fatal(err)
		}
		p, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return &p
	}
	now := time.Now()
	for _, tc := range []struct {
		name string
		key  string
		cert *tls.Certificate
		want int
		body string
	}{
		{"valid", DemoAPIKeyWithClientCert, pair(s.ClientCA(), time.Time{}, time.Time{}), 200, ""},
		{"none", DemoAPIKeyWithClientCert, nil, 401, "requires a client certificate"},
		{"other CA", DemoAPIKeyWithClientCert, pair(other, time.Time{}, time.Time{}), 401, "not valid"},
		{"expired", DemoAPIKeyWithClientCert, pair(s.ClientCA(), now.Add(-2*time.Hour), now.Add(-time.Hour)), 401, "not valid"},
		{"not required: none", DemoAPIKey, nil, 200, ""},
		{"not required: other CA ignored", DemoAPIKey, pair(other, time.Time{}, time.Time{}), 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := s.Client().Transport.(*http.Transport).Clone()
			tr.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				if tc.cert == nil {
					return &tls.Certificate{}, nil
				}
				return tc.cert, nil
			}
			defer tr.CloseIdleConnections()
			req, _ := http.NewRequest(http.MethodPost, s.APIURL+"/Auth/SignAppin", nil)
			req.Header.Set("Authorization", "PS-Auth key="+tc.key+"; runas="+DemoUserSvcVault+";")
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want || !strings.Contains(string(b), tc.body) {
				t.Fatalf("SignAppin: %d %s, want %d with %q", resp.StatusCode, b, tc.want, tc.body)
			}
		})
	}
	t.Run("plain HTTP", func(t *testing.T) {
		p := NewServer(DemoWorld())
		defer p.Close()
		req, _ := http.NewRequest(http.MethodPost, p.APIURL+"/Auth/SignAppin", nil)
		req.Header.Set("Authorization", "PS-Auth key="+DemoAPIKeyWithClientCert+"; runas="+DemoUserSvcVault+";")
		resp, err := p.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("SignAppin over plain HTTP with a certificate registration: %d, want 401", resp.StatusCode)
		}
	})
}
