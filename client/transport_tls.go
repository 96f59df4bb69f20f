package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpproxy"
)

// ParseClientCert checks a PEM client certificate (the chain, leaf first)
// and its unencrypted PEM private key, and returns them as a
// tls.Certificate with Leaf set. Its errors wrap ErrInvalidInput and never
// quote the key.
func ParseClientCert(certPEM, keyPEM []byte) (tls.Certificate, error) {
	switch {
	case len(certPEM) == 0 && len(keyPEM) == 0:
		return tls.Certificate{}, fmt.Errorf("%w: no client certificate given", ErrInvalidInput)
	case len(certPEM) == 0 || len(keyPEM) == 0:
		return tls.Certificate{}, fmt.Errorf("%w: ClientCertPEM and ClientKeyPEM must be set together", ErrInvalidInput)
	}
	leaf, err := FirstPEMCertificate(certPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: ClientCertPEM: %v", ErrInvalidInput, err)
	}
	if err := CheckPEMPrivateKey(keyPEM); err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: ClientKeyPEM: %v", ErrInvalidInput, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// crypto/tls says "private key does not match public key" or that
		// the key does not parse; neither quotes the key, but say it ourselves.
		if strings.Contains(err.Error(), "does not match") {
			return tls.Certificate{}, fmt.Errorf("%w: ClientKeyPEM is not the private key of the certificate in ClientCertPEM", ErrInvalidInput)
		}
		return tls.Certificate{}, fmt.Errorf("%w: ClientKeyPEM is not a usable private key (PKCS #1, PKCS #8 or EC, unencrypted)", ErrInvalidInput)
	}
	cert.Leaf = leaf
	return cert, nil
}

// FirstPEMCertificate parses the first CERTIFICATE block of data. Its
// errors describe the problem without quoting data.
func FirstPEMCertificate(data []byte) (*x509.Certificate, error) {
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("the certificate does not parse: %v", err)
		}
		return c, nil
	}
}

// CheckPEMPrivateKey checks that data holds an unencrypted PEM private key
// block. Its errors never quote data.
func CheckPEMPrivateKey(data []byte) error {
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return errors.New("holds no PEM private key (-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)")
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] == "4,ENCRYPTED" {
			return errors.New("the private key is encrypted; give it unencrypted")
		}
		if b.Type == "PRIVATE KEY" || strings.HasSuffix(b.Type, " PRIVATE KEY") {
			return nil
		}
	}
}

// ParseProxyURL checks an explicit proxy URL: http or https, a host, no
// user info (credentials go in ProxyUsername/ProxyPassword), no query or
// fragment, no path. Its errors wrap ErrInvalidInput and quote the URL only
// redacted.
func ParseProxyURL(raw string) (*url.URL, error) {
	if strings.Contains(raw, "@") {
		return nil, fmt.Errorf("%w: the proxy URL must not contain user info; give the user name and password separately", ErrInvalidInput)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: the proxy URL must be http://host:port or https://host:port, got %q", ErrInvalidInput, redactedURL(raw))
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#") || strings.Trim(u.Path, "/") != "" {
		return nil, fmt.Errorf("%w: the proxy URL must be only scheme, host and port, got %q", ErrInvalidInput, redactedURL(raw))
	}
	if p := u.Port(); p != "" {
		if _, err := net.LookupPort("tcp", p); err != nil {
			return nil, fmt.Errorf("%w: the proxy URL has a bad port, got %q", ErrInvalidInput, redactedURL(raw))
		}
	}
	u.Path, u.RawPath = "", ""
	return u, nil
}

// proxyFunc is the transport's Proxy: the explicit proxy of cfg, else the
// environment's, read now (once per client).
func proxyFunc(cfg Config) (func(*http.Request) (*url.URL, error), error) {
	if cfg.ProxyURL == "" {
		if cfg.ProxyUsername != "" || cfg.ProxyPassword != "" {
			return nil, fmt.Errorf("%w: ProxyUsername and ProxyPassword apply to ProxyURL only (a proxy from the environment carries its own credentials in its URL)", ErrInvalidInput)
		}
		env := httpproxy.FromEnvironment().ProxyFunc()
		return func(r *http.Request) (*url.URL, error) {
			u, err := env(r.URL)
			if err != nil {
				// httpproxy quotes the variable's value, which may hold a password.
				return nil, fmt.Errorf("%w: the proxy in the environment (HTTPS_PROXY or HTTP_PROXY) is not a valid URL", ErrInvalidInput)
			}
			return u, nil
		}, nil
	}
	u, err := ParseProxyURL(cfg.ProxyURL)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.ProxyUsername != "":
		if strings.Contains(cfg.ProxyUsername, ":") || hasCtl(cfg.ProxyUsername) {
			return nil, fmt.Errorf("%w: ProxyUsername must not contain ':' or control characters", ErrInvalidInput)
		}
		if hasCtl(cfg.ProxyPassword) {
			return nil, fmt.Errorf("%w: ProxyPassword must not contain control characters", ErrInvalidInput)
		}
		u.User = url.UserPassword(cfg.ProxyUsername, cfg.ProxyPassword)
	case cfg.ProxyPassword != "":
		return nil, fmt.Errorf("%w: ProxyPassword needs ProxyUsername", ErrInvalidInput)
	}
	return http.ProxyURL(u), nil
}

// onProxyConnectResponse turns a proxy's refusal of CONNECT into a
// *ProxyError (net/http would report only the status text).
func onProxyConnectResponse(_ context.Context, _ *url.URL, _ *http.Request, res *http.Response) error {
	if res.StatusCode == http.StatusOK {
		return nil
	}
	status := capString(cleanMessage(res.Status), 120)
	return &ProxyError{StatusCode: res.StatusCode, Status: status}
}

// ErrProxy is wrapped by the error of a call that failed at the proxy: the
// proxy could not be reached, or it refused the tunnel (*ProxyError). Such
// a call never reached Password Safe.
var ErrProxy = errors.New("password safe: the proxy failed")

// ProxyError is a proxy's answer other than 200 to CONNECT: it did not open
// the tunnel to Password Safe (407: proxy authentication missing or wrong).
type ProxyError struct {
	StatusCode int
	Status     string // the status line's text, e.g. "407 Proxy Authentication Required"
}

func (e *ProxyError) Error() string {
	return "the proxy refused the tunnel to Password Safe: HTTP " + e.Status
}

// Is makes errors.Is(err, ErrProxy) true.
func (e *ProxyError) Is(target error) bool { return target == ErrProxy }

// AsProxyError returns the *ProxyError in err's chain, if any.
func AsProxyError(err error) (*ProxyError, bool) {
	var e *ProxyError
	ok := errors.As(err, &e)
	return e, ok
}

// isProxyFailure: the proxy could not be reached (net/http's "proxyconnect"
// error) or refused the tunnel.
func isProxyFailure(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "proxyconnect" {
		return true
	}
	var pe *ProxyError
	return errors.As(err, &pe)
}

// redactedURL is raw with any user info, query and fragment replaced, for
// messages (like paths.RedactURL; this package cannot import it).
func redactedURL(raw string) string {
	prefix, rest := "", raw
	if i := strings.Index(raw, "://"); i > 0 {
		prefix, rest = raw[:i+3], raw[i+3:]
	}
	if j := strings.LastIndex(rest, "@"); j >= 0 {
		rest = "REDACTED@" + rest[j+1:]
	}
	if k := strings.IndexAny(rest, "?#"); k >= 0 {
		rest = rest[:k] + "?REDACTED"
	}
	return capString(prefix+rest, 256)
}
