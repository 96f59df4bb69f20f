// Package client is a Go client for the BeyondTrust Password Safe public API
// (v3): sign-in and sessions, the Requests and Credentials endpoints, and
// discovery. It has no Vault imports and can be used on its own.
package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpproxy"
)

// Config says how to reach and sign in to Password Safe. Either APIKey (with
// RunAs and, when the API registration requires it, Password) or ClientID and
// ClientSecret (OAuth client credentials) must be set.
type Config struct {
	// BaseURL is the API root, e.g. https://pws.example.com/BeyondTrust/api/public/v3
	BaseURL string

	APIKey   string
	RunAs    string // may be DOMAIN\user
	Password string // sent as pwd=[...] only when non-empty

	ClientID     string
	ClientSecret string

	// CACertPEM adds roots to the system's, for Password Safe and an https
	// proxy. TLSServerName and InsecureSkipVerify apply to Password Safe
	// only: an https proxy is always verified, against its own host name.
	CACertPEM          []byte
	TLSServerName      string
	InsecureSkipVerify bool

	// ClientCertPEM and ClientKeyPEM (PEM; both or neither) are the client
	// certificate presented in every TLS handshake with Password Safe that
	// asks for one (never to a proxy), for API registrations with "Client
	// Certificate Required"; a TLS 1.2 server may also ask by renegotiating
	// once. ClientCertPEM may hold the chain, leaf first. The key is a
	// secret and must not be encrypted.
	ClientCertPEM []byte
	ClientKeyPEM  []byte

	// ProxyURL is the HTTP proxy to reach Password Safe through (http:// or
	// https://host:port; CONNECT for https URLs), with ProxyUsername and
	// ProxyPassword (a secret) for basic proxy authentication. It must not
	// carry user info. The TLS connection to an https:// proxy (explicit or
	// from the environment) is its own: verified against the system roots
	// and CACertPEM and the proxy's host name, with no client certificate. Empty means the environment: HTTPS_PROXY,
	// HTTP_PROXY and NO_PROXY (and lowercase forms) as New finds them, read
	// once per client (not cached per process like
	// http.ProxyFromEnvironment). As there, loopback hosts are never
	// proxied from the environment.
	ProxyURL      string
	ProxyUsername string
	ProxyPassword string

	Timeout    time.Duration // per attempt; default 30s
	MaxRetries int           // retries after the first attempt for retryable failures; default 3, <0 means none
	// RetryBackoff is the first pause between retries (default 100ms); it
	// doubles per retry up to 20 times itself, with jitter.
	RetryBackoff time.Duration
	// Limiter bounds concurrent calls; share one among clients to bound a
	// whole process. Nil means a private limiter of DefaultMaxConcurrent.
	Limiter *Limiter
	// Metrics, when set, counts every call (per endpoint: calls, failures,
	// retries, latency); share one among clients to add their calls up.
	Metrics *Metrics

	// HTTPClient, when set, is used as is (its Jar is replaced per client);
	// otherwise a client with the TLS settings above is built.
	HTTPClient *http.Client
	// UserAgent is sent on every call.
	UserAgent string
}

// String describes the config without its secrets, so that a Config that
// ends up in a log line or an error by accident leaks nothing.
func (c Config) String() string {
	auth := "none"
	switch {
	case c.ClientID != "":
		auth = "oauth client " + c.ClientID
	case c.APIKey != "":
		auth = "api key, run as " + c.RunAs
	}
	proxy := "environment"
	if c.ProxyURL != "" {
		proxy = fmt.Sprintf("%q", redactedURL(c.ProxyURL))
		if c.ProxyUsername != "" {
			proxy += " as " + fmt.Sprintf("%q", c.ProxyUsername)
		}
	}
	return fmt.Sprintf("client.Config{BaseURL: %q, auth: %s, client certificate: %t, proxy: %s, TLSServerName: %q, InsecureSkipVerify: %t, Timeout: %s, MaxRetries: %d}",
		c.BaseURL, auth, len(c.ClientCertPEM) > 0, proxy, c.TLSServerName, c.InsecureSkipVerify, c.Timeout, c.MaxRetries)
}

// GoString keeps %#v from printing secrets too.
func (c Config) GoString() string { return c.String() }

// DefaultMaxConcurrent is the size of a client's private Limiter.
const DefaultMaxConcurrent = 16

// Defaults for Config fields left zero.
const (
	DefaultTimeout    = 30 * time.Second
	DefaultMaxRetries = 3
	DefaultUserAgent  = "passwordsafe-go-client/1"
)

// Backoff between retries: full exponential growth from defaultBackoffBase,
// capped at defaultBackoffCap, with jitter (see backoff in retry.go).
const (
	defaultBackoffBase = 100 * time.Millisecond
	defaultBackoffCap  = 2 * time.Second
)

// Limiter bounds how many calls are in flight at once. A slot is held for
// one HTTP attempt, not across retry waits or a shared sign-in, so a small
// limiter cannot deadlock. The zero Limiter does not limit.
type Limiter struct{ ch chan struct{} }

// NewLimiter returns a limiter that lets n calls run at once (n < 1 means 1).
func NewLimiter(n int) *Limiter {
	if n < 1 {
		n = 1
	}
	return &Limiter{ch: make(chan struct{}, n)}
}

// acquire takes a slot, giving up when ctx ends. A zero Limiter does not limit.
func (l *Limiter) acquire(ctx context.Context) error {
	if l.ch == nil {
		return nil
	}
	select {
	case l.ch <- struct{}{}:
		return nil
	default:
	}
	select {
	case l.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Limiter) release() {
	if l.ch != nil {
		<-l.ch
	}
}

// size is how many calls may run at once (DefaultMaxConcurrent for a zero Limiter).
func (l *Limiter) size() int {
	if l.ch == nil {
		return DefaultMaxConcurrent
	}
	return cap(l.ch)
}

// Client is safe for concurrent use. One Client holds one signed-in session.
type Client struct {
	cfg Config

	hc   *http.Client
	jar  *sessionJar
	base *url.URL // parsed once; each call copies it and sets Path/RawQuery

	limiter     *Limiter
	metrics     *Metrics
	timeout     time.Duration
	maxRetries  int
	userAgent   string
	uaHeader    []string // []string{userAgent}, shared by every request
	backoffBase time.Duration
	backoffCap  time.Duration

	psAuth  string   // the PS-Auth header value (API key sign-in); a secret
	secrets []string // redacted from anything the server says back

	// Session state. gen is the generation of the live session (0 = none);
	// it is read lock-free on every call. mu guards the rest.
	gen    atomic.Uint64
	mu     sync.Mutex
	seq    uint64        // last generation handed out
	user   *User         // who the live session belongs to
	flight *signInFlight // the sign-in in progress, shared by all callers

	// Retirement (see Retire), also guarded by mu. inflight counts the
	// session calls running; once retired, whoever brings it to 0 signs out.
	inflight int
	retired  bool
	closing  chan struct{} // set while a retired client signs out; closed after
	idle     chan struct{} // made by a waiting Retire; closed when the client is idle again
	closeErr error         // outcome of the last sign-out of the retired client

	tokMu    sync.Mutex
	token    string    // cached OAuth access token; a secret
	tokenExp time.Time // when to stop using token (a margin before expires_in)
}

// New checks cfg and returns a client. It does not sign in; the first call does.
func New(cfg Config) (*Client, error) {
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:         cfg,
		base:        base,
		limiter:     cfg.Limiter,
		metrics:     cfg.Metrics,
		timeout:     cfg.Timeout,
		maxRetries:  cfg.MaxRetries,
		userAgent:   cfg.UserAgent,
		backoffBase: defaultBackoffBase,
		backoffCap:  defaultBackoffCap,
	}
	if cfg.RetryBackoff < 0 {
		return nil, fmt.Errorf("%w: RetryBackoff must not be negative", ErrInvalidInput)
	}
	if cfg.RetryBackoff > 0 {
		c.backoffBase, c.backoffCap = cfg.RetryBackoff, 20*cfg.RetryBackoff
	}
	switch {
	case cfg.APIKey != "" && cfg.ClientID != "":
		return nil, fmt.Errorf("%w: set either APIKey or ClientID, not both", ErrInvalidInput)
	case cfg.APIKey != "":
		if cfg.RunAs == "" {
			return nil, fmt.Errorf("%w: RunAs is required with APIKey", ErrInvalidInput)
		}
		if cfg.ClientSecret != "" {
			return nil, fmt.Errorf("%w: ClientSecret is set without ClientID", ErrInvalidInput)
		}
		// The values go into one header; a ';' in the user name or a control
		// character anywhere would change its meaning. The error names the
		// field, never the value.
		for _, f := range []struct{ name, v, bad string }{
			{"APIKey", cfg.APIKey, ";"},
			{"RunAs", cfg.RunAs, ";[]"},
			{"Password", cfg.Password, ""},
		} {
			if hasCtl(f.v) || (f.bad != "" && strings.ContainsAny(f.v, f.bad)) {
				return nil, fmt.Errorf("%w: %s contains characters that cannot be sent in a PS-Auth header", ErrInvalidInput, f.name)
			}
		}
		c.psAuth = psAuthHeader(cfg.APIKey, cfg.RunAs, cfg.Password)
	case cfg.ClientID != "":
		if cfg.ClientSecret == "" {
			return nil, fmt.Errorf("%w: ClientSecret is required with ClientID", ErrInvalidInput)
		}
		if cfg.RunAs != "" || cfg.Password != "" {
			return nil, fmt.Errorf("%w: RunAs and Password apply to APIKey sign-in only", ErrInvalidInput)
		}
	default:
		return nil, fmt.Errorf("%w: set APIKey and RunAs, or ClientID and ClientSecret", ErrInvalidInput)
	}
	var env *httpproxy.Config
	if cfg.ProxyURL == "" && cfg.HTTPClient == nil {
		env = httpproxy.FromEnvironment() // read once per client
	}
	c.secrets = secretList(append([]string{cfg.APIKey, cfg.Password, cfg.ClientSecret, c.psAuth, cfg.ProxyPassword},
		proxySecrets(cfg, env)...)...)

	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if hasCtl(c.userAgent) {
		return nil, fmt.Errorf("%w: UserAgent contains control characters", ErrInvalidInput)
	}
	c.uaHeader = []string{c.userAgent}
	if c.limiter == nil {
		c.limiter = NewLimiter(DefaultMaxConcurrent)
	}

	c.jar = newSessionJar()
	if cfg.HTTPClient != nil {
		if len(cfg.CACertPEM) > 0 || cfg.TLSServerName != "" || cfg.InsecureSkipVerify ||
			len(cfg.ClientCertPEM) > 0 || len(cfg.ClientKeyPEM) > 0 || cfg.ProxyURL != "" || cfg.ProxyUsername != "" || cfg.ProxyPassword != "" {
			// Silently ignoring a CA, a client certificate or a proxy would be worse than failing.
			return nil, fmt.Errorf("%w: CACertPEM, TLSServerName, InsecureSkipVerify, ClientCertPEM, ClientKeyPEM and Proxy* cannot be combined with HTTPClient; configure its transport instead", ErrInvalidInput)
		}
		hc := *cfg.HTTPClient // a copy: the caller's client keeps its own jar
		hc.Jar = c.jar
		c.hc = &hc
	} else {
		tr, err := newTransport(cfg, env, c.limiter.size(), c.secrets)
		if err != nil {
			return nil, err
		}
		c.hc = &http.Client{
			Transport: tr,
			Jar:       c.jar,
			// The API never redirects. Following one could carry the session
			// cookie or a POST somewhere else, so a 3xx comes back as an *Error.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return c, nil
}

func parseBaseURL(raw string) (*url.URL, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, fmt.Errorf("%w: BaseURL is required", ErrInvalidInput)
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		// url errors quote the input; BaseURL holds no secret unless someone
		// put user info in it, which is refused below, but say nothing more.
		return nil, fmt.Errorf("%w: BaseURL is not a valid URL", ErrInvalidInput)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%w: BaseURL must be an http or https URL", ErrInvalidInput)
	case u.Host == "":
		return nil, fmt.Errorf("%w: BaseURL has no host", ErrInvalidInput)
	case u.User != nil:
		return nil, fmt.Errorf("%w: BaseURL must not contain credentials", ErrInvalidInput)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, fmt.Errorf("%w: BaseURL must not have a query or fragment", ErrInvalidInput)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	if u.RawPath == u.Path {
		u.RawPath = ""
	}
	return u, nil
}

func newTransport(cfg Config, env *httpproxy.Config, conns int, secrets []string) (*http.Transport, error) {
	tlsCfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         cfg.TLSServerName,
		InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // opt-in, documented as dev only
	}
	if len(cfg.ClientCertPEM) > 0 || len(cfg.ClientKeyPEM) > 0 {
		cert, err := ParseClientCert(cfg.ClientCertPEM, cfg.ClientKeyPEM)
		if err != nil {
			return nil, err
		}
		// Present it whenever Password Safe asks, whatever CAs it names:
		// Windows servers (IIS) send no list of acceptable CAs by default,
		// and one that does may name a root above the certificate's issuer.
		// (Only ever to Password Safe: an https proxy's handshake uses
		// proxyTLSConfig, which has no certificate.)
		tlsCfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
		// IIS may ask for the certificate by renegotiating a TLS 1.2
		// connection after the handshake, once it sees the request's
		// path. The client renegotiates only when the server asks.
		tlsCfg.Renegotiation = tls.RenegotiateOnceAsClient
	}
	proxy, err := proxyFunc(cfg, env)
	if err != nil {
		return nil, err
	}
	if len(cfg.CACertPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(cfg.CACertPEM) {
			return nil, fmt.Errorf("%w: CACertPEM holds no PEM certificate", ErrInvalidInput)
		}
		tlsCfg.RootCAs = pool
	}
	dt, ok := http.DefaultTransport.(*http.Transport)
	var tr *http.Transport
	if ok {
		tr = dt.Clone()
	} else {
		tr = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true,
			DialContext: (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext, TLSHandshakeTimeout: 10 * time.Second}
	}
	tr.TLSClientConfig = tlsCfg
	// The TLS connections the transport dials itself are to an https
	// proxy or, direct, to Password Safe; each gets its own config (see
	// tlsDialer). The connection to Password Safe through a proxy's tunnel
	// is wrapped by the transport with TLSClientConfig.
	d := newTLSDialer(tr, proxyTLSConfig(tlsCfg.RootCAs))
	tr.Proxy = d.proxy(proxy)
	tr.DialTLSContext = d.dialTLS
	tr.OnProxyConnectResponse = onProxyConnectResponse(secrets)
	// Keep one idle connection per call that may be in flight, so a steady
	// load reuses connections instead of dialling (and handshaking) anew.
	tr.MaxIdleConnsPerHost = conns
	if tr.MaxIdleConns < conns {
		tr.MaxIdleConns = conns
	}
	// Close idle connections before the server does (IIS, which Password
	// Safe runs on, drops them after 120s): a POST Requests sent on a
	// connection the server is closing cannot be safely repeated.
	tr.IdleConnTimeout = 90 * time.Second
	tr.ResponseHeaderTimeout = 0 // the per-attempt context bounds the whole exchange
	return tr, nil
}

func hasCtl(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b == 0x7f {
			return true
		}
	}
	return false
}

// String names the client without its secrets: fmt would otherwise print the
// unexported fields (API key, token) of a *Client passed to %v.
func (c *Client) String() string {
	return "client.Client{" + c.base.Redacted() + "}"
}

// GoString keeps %#v from printing secrets too.
func (c *Client) GoString() string { return c.String() }
