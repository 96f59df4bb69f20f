package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"golang.org/x/net/http/httpproxy"
	"golang.org/x/net/idna"
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
// environment's, env (read once per client).
func proxyFunc(cfg Config, envCfg *httpproxy.Config) (func(*http.Request) (*url.URL, error), error) {
	if cfg.ProxyURL == "" {
		if cfg.ProxyUsername != "" || cfg.ProxyPassword != "" {
			return nil, fmt.Errorf("%w: ProxyUsername and ProxyPassword apply to ProxyURL only (a proxy from the environment carries its own credentials in its URL)", ErrInvalidInput)
		}
		env := envCfg.ProxyFunc()
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

// proxySecrets are the proxy credentials a client holds, to redact from
// errors: the password and the Basic value (base64 of user:password) that
// the Proxy-Authorization header carries, which a proxy may echo. They
// come from cfg, or from the user info of the environment's proxy URLs.
func proxySecrets(cfg Config, env *httpproxy.Config) []string {
	var out []string
	add := func(user, pass string) {
		if pass != "" {
			out = append(out, pass, base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
		}
	}
	if cfg.ProxyURL != "" {
		add(cfg.ProxyUsername, cfg.ProxyPassword)
		return out
	}
	if env == nil {
		return nil
	}
	for _, raw := range []string{env.HTTPSProxy, env.HTTPProxy} {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			u, err = url.Parse("http://" + raw) // httpproxy reads host:port as http://host:port
		}
		if err == nil && u.User != nil {
			p, _ := u.User.Password()
			add(u.User.Username(), p)
		}
	}
	return out
}

// onProxyConnectResponse turns a proxy's refusal of CONNECT into a
// *ProxyError (net/http would report only the status text), its status
// text redacted of secrets (a proxy may echo the Proxy-Authorization it got).
func onProxyConnectResponse(secrets []string) func(context.Context, *url.URL, *http.Request, *http.Response) error {
	return func(_ context.Context, _ *url.URL, _ *http.Request, res *http.Response) error {
		if res.StatusCode == http.StatusOK {
			return nil
		}
		status := res.Status
		for _, sec := range secrets {
			status = redactOne(status, sec)
		}
		return &ProxyError{StatusCode: res.StatusCode, Status: capString(cleanMessage(status), 120)}
	}
}

// proxyTLSConfig is the TLS config of the connection to an https proxy:
// verified against roots (nil: the system's; else the system's and
// CACertPEM, as an operator's CA may have issued the proxy's certificate)
// and the proxy's host name, whatever InsecureSkipVerify and
// TLSServerName say (they are about Password Safe), and no client
// certificate (it is for Password Safe only). HTTP/1.1 only: CONNECT is
// an HTTP/1.1 request.
func proxyTLSConfig(roots *x509.CertPool) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, NextProtos: []string{"http/1.1"}}
}

// tlsDialer is the transport's DialTLSContext. net/http calls it for the
// TLS connections it dials itself: to an https proxy (the connection to
// Password Safe through the proxy's tunnel is then made by net/http with
// TLSClientConfig), or, without a proxy, to Password Safe. Which one a
// dialled address is, the transport's Proxy tells: it records the
// address of each https proxy it names and of each target it sends
// direct. An address recorded as a proxy, or not at all, gets the proxy's
// config: a mistake there fails the handshake rather than present the
// client certificate to, or skip verifying, anyone but Password Safe.
type tlsDialer struct {
	tr       *http.Transport // its TLSClientConfig (as net/http completes it: NextProtos), DialContext and TLSHandshakeTimeout
	proxyCfg *tls.Config

	mu      sync.Mutex
	proxies map[string]bool // host:port of https proxies
	direct  map[string]bool // host:port of targets reached without a proxy
}

func newTLSDialer(tr *http.Transport, proxy *tls.Config) *tlsDialer {
	return &tlsDialer{tr: tr, proxyCfg: proxy, proxies: map[string]bool{}, direct: map[string]bool{}}
}

// proxy wraps the transport's Proxy to record which addresses are proxies
// and which are targets dialled direct. net/http calls Proxy for every
// request before it dials.
func (d *tlsDialer) proxy(next func(*http.Request) (*url.URL, error)) func(*http.Request) (*url.URL, error) {
	return func(r *http.Request) (*url.URL, error) {
		u, err := next(r)
		if err != nil {
			return u, err
		}
		d.mu.Lock()
		switch {
		case u == nil:
			d.direct[canonicalAddr(r.URL)] = true
		case u.Scheme == "https":
			d.proxies[canonicalAddr(u)] = true
		}
		d.mu.Unlock()
		return u, nil
	}
}

// configFor is the TLS config for a connection to addr (host:port) that
// net/http dials itself, with ServerName set.
func (d *tlsDialer) configFor(addr string) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	toPS := d.direct[addr] && !d.proxies[addr]
	d.mu.Unlock()
	var cfg *tls.Config
	if toPS {
		// What net/http's own handshake with Password Safe would use: a
		// clone of TLSClientConfig (its NextProtos set by net/http for
		// HTTP/2), ServerName the host unless TLSServerName is set.
		cfg = d.tr.TLSClientConfig.Clone()
	} else {
		cfg = d.proxyCfg.Clone()
		cfg.ServerName = ""
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	return cfg, nil
}

// tlsHandshakeTimeoutError is net/http's error for a handshake that took
// longer than TLSHandshakeTimeout.
type tlsHandshakeTimeoutError struct{}

func (tlsHandshakeTimeoutError) Timeout() bool   { return true }
func (tlsHandshakeTimeoutError) Temporary() bool { return true }
func (tlsHandshakeTimeoutError) Error() string   { return "net/http: TLS handshake timeout" }

func (d *tlsDialer) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	cfg, err := d.configFor(addr)
	if err != nil {
		return nil, err
	}
	dial := d.tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	raw, err := dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	hctx, cancel := ctx, context.CancelFunc(func() {})
	if t := d.tr.TLSHandshakeTimeout; t > 0 {
		hctx, cancel = context.WithTimeout(ctx, t)
	}
	defer cancel()
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(hctx); err != nil {
		_ = raw.Close()
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, tlsHandshakeTimeoutError{}
		}
		return nil, err
	}
	return conn, nil
}

// canonicalAddr is u's host:port as net/http dials it: the host in ASCII
// (IDNA), the scheme's port when u has none.
func canonicalAddr(u *url.URL) string {
	host := u.Hostname()
	if v, err := idna.Lookup.ToASCII(host); err == nil {
		host = v
	}
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return net.JoinHostPort(host, port)
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
