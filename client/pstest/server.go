package pstest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"time"
)

// Base paths of the API. Paths are matched case-insensitively.
const (
	APIBasePath       = "/BeyondTrust/api/public/v3"
	LegacyAPIBasePath = "/eEye.RetinaCS.Server/api/public/v3"
	// SessionCookieName is the cookie SignAppin sets (the real server is an
	// ASP.NET application). Clients must not depend on the name.
	SessionCookieName = "ASP.NET_SessionId"
)

// Canonical endpoint names, used by Inspector.Calls, Inspector.CallCounts
// and Fault.Endpoint.
const (
	EndpointToken              = "POST Auth/connect/token"
	EndpointSignAppin          = "POST Auth/SignAppin"
	EndpointSignout            = "POST Auth/Signout"
	EndpointListRequests       = "GET Requests"
	EndpointCreateRequest      = "POST Requests"
	EndpointCreateAliasRequest = "POST Aliases/{id}/Requests"
	EndpointCheckin            = "PUT Requests/{id}/Checkin" // also the deprecated PUT Requests/Release/{id}
	EndpointApprove            = "PUT Requests/{id}/Approve"
	EndpointDeny               = "PUT Requests/{id}/Deny"
	EndpointRotateOnCheckin    = "PUT Requests/{id}/RotateOnCheckin"
	EndpointCredentials        = "GET Credentials/{id}"
	EndpointAliasCredentials   = "GET Aliases/{id}/Credentials/{id}"
	EndpointManagedAccounts    = "GET ManagedAccounts"
	EndpointManagedSystems     = "GET ManagedSystems"
	EndpointAliases            = "GET Aliases"
	EndpointAlias              = "GET Aliases/{id}"
	EndpointISARequests        = "POST ISARequests"
	EndpointChangeCredentials  = "POST ManagedAccounts/{id}/Credentials/Change"
	EndpointSecretsSafeFolders = "GET Secrets-Safe/Folders"
	EndpointSecrets            = "GET Secrets-Safe/Secrets"
	EndpointSecret             = "GET Secrets-Safe/Secrets/{id}"
	EndpointSecretFileDownload = "GET Secrets-Safe/Secrets/{id}/file/download"
)

// Request statuses (RequestState.Status).
const (
	StatusPending   = "pending"
	StatusActive    = "active"
	StatusCheckedIn = "checkedin"
	StatusExpired   = "expired"
	StatusDenied    = "denied"
)

const (
	maxDurationMinutes = 525600
	defaultIdle        = 20 * time.Minute
	tokenLifetime      = time.Hour
	firstRequestID     = 1001
	// DefaultHistory is how many ended requests a server remembers (for
	// Inspector.Requests and Inspector.Request; see Editor.SetHistory);
	// older ones are forgotten, which changes no API answer (an ended
	// request and an unknown one both answer 404).
	DefaultHistory = 100000
)

// RequestState is a release request as the simulator holds it.
type RequestState struct {
	ID                                          int
	UserName                                    string
	SystemID, AccountID, AliasID, ApplicationID int
	AccessType                                  string
	Status                                      string // pending, active, checkedin, expired, denied
	DurationMinutes                             int
	Reason, TicketNumber                        string
	TicketSystemID                              int
	RotateOnCheckin                             bool
	CheckinReason                               string
	Approvers                                   []string // who approved, in order
	CreatedAt                                   time.Time
	// ExpiresAt: for an active request, ApprovedAt + duration; for a pending
	// one, the end of the requested window (CreatedAt + duration), when it
	// lapses to "expired" if nobody approved it.
	ExpiresAt           time.Time
	ApprovedAt, EndedAt *time.Time
}

// Server is a running simulator, in the manner of httptest.Server. Its own
// methods cover the server itself: where it listens (URL, APIURL), how to
// reach it (Client, Certificate, CACertPEM), its handler, its clock (Now,
// Advance, UseRealClock), logging and Close. Everything else is grouped:
//
//   - Edit returns an Editor, which changes the simulated world (accounts,
//     passwords, aliases, license, API access, sessions and tokens).
//   - Faults returns the fault injector (Inject, Clear, SetFunc).
//   - Inspect returns an Inspector, which looks at requests, passwords,
//     call counts, sessions and credentials without changing them.
//
// All methods, and those of the groups, are safe for concurrent use.
type Server struct {
	// URL is the root, e.g. http://127.0.0.1:43121 (empty for New).
	URL string
	// APIURL is URL + "/BeyondTrust/api/public/v3", what a client's BaseURL takes.
	APIURL string

	hs     *httptest.Server
	client *http.Client // what Client returns, built once

	mu sync.Mutex // guards everything below
	st *state
}

// state is the mutable world. Guarded by Server.mu.
type state struct {
	world    *World // the (copied) definition, for Credentials
	users    map[string]*userRec
	regs     map[string]APIRegistration
	oauth    map[string]OAuthClient
	systems  map[int]*sysRec
	sysOrder []*sysRec
	accounts map[int]*acctRec
	aliases  map[int]*aliasRec
	aliasNm  map[string]*aliasRec
	alOrder  []*aliasRec
	ss       *secretsSafe

	sessions map[string]*session
	tokens   map[string]*token
	signIns  int

	// clientCA issues the client certificates that registrations with
	// RequireClientCert accept (set once by New, never changed).
	clientCA *CA
	// certSignIns counts successful sign-ins that presented a valid client
	// certificate, by the certificate's subject common name.
	certSignIns map[string]int

	reqs       map[int]*request
	reqOrder   []*request // by ID
	nextID     int
	ended      int // ended requests still in reqs
	history    int // how many ended requests to remember
	openByUser map[string]map[int]*request
	expiries   expiryHeap

	// changes are the credential changes made through
	// POST ManagedAccounts/{id}/Credentials/Change, oldest first.
	changes []CredentialChange

	calls     map[string]int
	faults    []*faultState
	faultFunc FaultFunc

	// How answers are spelt where the reference allows several forms
	// (Editor.SetStatusWords, Editor.SetErrorBodies).
	statusWords map[string]string // internal status -> GET Requests Status word
	errorBodies ErrorBodies
	zoneless    bool          // dates in local time without a zone (Editor.SetZonelessDates)
	zoneOffset  time.Duration // that local time's offset from UTC
	// A daylight saving change (Editor.SetZoneChange): moments from
	// zoneChangeAt on are written with zoneOffsetAfter.
	zoneChangeAt    time.Time
	zoneOffsetAfter time.Duration

	idle           time.Duration
	licenseInvalid bool
	apiDisabled    bool
	logger         *slog.Logger

	clockBase time.Time
	offset    time.Duration
	realClock bool
	realStart time.Time
}

type userRec struct {
	User
	key       string
	requestor bool
	approver  bool
	isa       map[int]bool
	approves  []*acctRec // accounts whose policy names this user as approver
}

type sysRec struct {
	System
	accounts []*acctRec
}

type acctRec struct {
	Account
	sys        *sysRec
	password   string
	lastChange time.Time
	open       map[int]*request // pending and active requests
}

func (a *acctRec) apiEnabled() bool { return a.APIEnabled == nil || *a.APIEnabled }

type aliasRec struct {
	Alias
	acct *acctRec
}

type session struct {
	user     *userRec
	lastSeen time.Time
}

type token struct {
	user    *userRec
	expires time.Time
}

type request struct {
	st   RequestState
	acct *acctRec
	user *userRec
}

func (r *request) open() bool {
	return r.st.Status == StatusPending || r.st.Status == StatusActive
}

func (r *request) snapshot() RequestState {
	c := r.st
	c.Approvers = append([]string(nil), r.st.Approvers...)
	if r.st.ApprovedAt != nil {
		t := *r.st.ApprovedAt
		c.ApprovedAt = &t
	}
	if r.st.EndedAt != nil {
		t := *r.st.EndedAt
		c.EndedAt = &t
	}
	return c
}

// New returns a simulator for w that is not listening: serve s.Handler()
// yourself (cmd/passwordsafe-sim does). URL and APIURL are empty.
func New(w *World) (*Server, error) {
	if w == nil {
		w = DemoWorld()
	}
	if err := w.Validate(); err != nil {
		return nil, fmt.Errorf("pstest: invalid world: %w", err)
	}
	ca, err := NewCA("passwordsafe-sim client CA")
	if err != nil {
		return nil, fmt.Errorf("pstest: client CA: %w", err)
	}
	s := &Server{client: &http.Client{}}
	s.st = newState(w.clone(), time.Now().UTC().Truncate(time.Second))
	s.st.clientCA = ca
	return s, nil
}

// NewServer starts a simulator for w (nil = DemoWorld()) on 127.0.0.1 over
// plain HTTP. It panics if w is invalid, like httptest.NewServer does when it
// cannot listen. Close it when done.
func NewServer(w *World) *Server {
	s, err := New(w)
	if err != nil {
		panic(err)
	}
	s.hs = httptest.NewServer(s)
	s.client = s.hs.Client()
	s.setURL(s.hs.URL)
	return s
}

// NewTLSServer is NewServer over HTTPS with a fresh self-signed certificate
// for 127.0.0.1, ::1 and localhost (TLS 1.2 and 1.3, HTTP/1.1). Certificate
// and CACertPEM return the certificate; Client returns an *http.Client that
// trusts it. The handshake asks for a client certificate without requiring
// or checking one (TLSConfig); SignAppin checks it for registrations that
// require one (see ClientCA).
func NewTLSServer(w *World) *Server {
	s, err := New(w)
	if err != nil {
		panic(err)
	}
	certPEM, keyPEM, err := SelfSignedCert("127.0.0.1", "::1", "localhost")
	if err != nil {
		panic(fmt.Sprintf("pstest: %v", err))
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		panic(fmt.Sprintf("pstest: %v", err))
	}
	s.hs = httptest.NewUnstartedServer(s)
	// Clients that reject the certificate (tests of TLS verification) would
	// otherwise print a handshake error on stderr for every attempt.
	s.hs.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.hs.TLS = TLSConfig(cert)
	s.hs.StartTLS()
	s.client = s.hs.Client()
	s.setURL(s.hs.URL)
	return s
}

// TLSConfig is the server side of the simulator's TLS with cert as its
// certificate: TLS 1.2 or later, and a client certificate requested but
// neither required nor verified in the handshake. Like IIS with client
// certificates "accepted", the handshake succeeds with any certificate or
// none; SignAppin then checks the certificate for an API registration that
// requires one. cmd/passwordsafe-sim uses it for -tls.
func TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		ClientAuth:   tls.RequestClientCert,
	}
}

// ClientCA returns the CA whose client certificates the server accepts for
// API registrations that require one. It is fresh per server.
func (s *Server) ClientCA() *CA { return s.st.clientCA }

// IssueClientCert issues a client certificate from ClientCA (see CA.Issue:
// zero times mean valid from an hour ago for a year). SignAppin checks its
// validity on the simulator's clock, so Advance can expire it.
func (s *Server) IssueClientCert(commonName string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	return s.st.clientCA.Issue(commonName, notBefore, notAfter)
}

func (s *Server) setURL(u string) {
	s.URL = u
	s.APIURL = u + APIBasePath
}

// Close shuts the listener down and closes the idle connections of Client's
// transport (a no-op for New).
func (s *Server) Close() {
	if s.hs != nil {
		s.hs.Close()
	}
}

// Handler returns the simulator's http.Handler (the API under both base
// paths, and the control API under /_pstest/).
func (s *Server) Handler() http.Handler { return s }

// Certificate returns the certificate of a NewTLSServer, nil for a server
// over plain HTTP or one made with New. Like httptest.Server.Certificate.
func (s *Server) Certificate() *x509.Certificate {
	if s.hs == nil {
		return nil
	}
	return s.hs.Certificate()
}

// CACertPEM returns Certificate in PEM form (the certificate is its own
// CA), for configurations that take PEM such as the plugin's ca_cert or
// client.Config.CACertPEM; nil for a server over plain HTTP. Each call
// returns a new slice.
func (s *Server) CACertPEM() []byte {
	c := s.Certificate()
	if c == nil {
		return nil
	}
	return encodeCertPEM(c.Raw)
}

// Client returns the *http.Client for the server: the same one on every
// call, like httptest.Server.Client. For NewTLSServer it trusts the
// server's certificate; for New it is a plain client on
// http.DefaultTransport. It has no cookie jar. Do not change it: a caller
// that needs its own settings (a cookie jar per simulated user, a timeout)
// copies it (c := *s.Client(); c.Jar = jar), which shares the transport,
// or builds a client that trusts Certificate.
func (s *Server) Client() *http.Client { return s.client }

// SetLogger makes the server log one line per call (method, canonical
// endpoint, status, duration) at Info, and a panic while serving (method,
// path, the panic's value and stack) at Error. Nil stops logging. The log
// never holds headers, bodies, query strings or credentials.
func (s *Server) SetLogger(l *slog.Logger) {
	s.mu.Lock()
	s.st.logger = l
	s.mu.Unlock()
}

func newState(w *World, start time.Time) *state {
	st := &state{
		world:       w,
		users:       map[string]*userRec{},
		regs:        map[string]APIRegistration{},
		oauth:       map[string]OAuthClient{},
		systems:     map[int]*sysRec{},
		accounts:    map[int]*acctRec{},
		aliases:     map[int]*aliasRec{},
		aliasNm:     map[string]*aliasRec{},
		sessions:    map[string]*session{},
		tokens:      map[string]*token{},
		certSignIns: map[string]int{},
		reqs:        map[int]*request{},
		nextID:      firstRequestID,
		history:     DefaultHistory,
		openByUser:  map[string]map[int]*request{},
		calls:       map[string]int{},
		idle:        time.Duration(w.SessionIdleMinutes) * time.Minute,
		clockBase:   start,
	}
	if st.idle <= 0 {
		st.idle = defaultIdle
	}
	st.licenseInvalid = w.LicenseInvalid
	st.apiDisabled = w.APIDisabled
	usedIDs := map[int]bool{}
	for _, u := range w.Users {
		usedIDs[u.ID] = true
	}
	nextUID := 1
	for _, u := range w.Users {
		if u.ID == 0 {
			for usedIDs[nextUID] {
				nextUID++
			}
			u.ID = nextUID
			usedIDs[nextUID] = true
		}
		if u.Email == "" {
			name := u.Name
			if i := strings.LastIndex(name, `\`); i >= 0 {
				name = name[i+1:]
			}
			u.Email = strings.ToLower(name) + "@example.com"
		}
		if u.DisplayName == "" {
			u.DisplayName = u.Name
		}
		rec := &userRec{User: u, key: strings.ToLower(u.Name), isa: map[int]bool{}}
		rec.requestor = hasRole(u.Roles, RoleRequestor)
		rec.approver = hasRole(u.Roles, RoleApprover)
		for _, id := range u.ISASystemIDs {
			rec.isa[id] = true
		}
		st.users[rec.key] = rec
	}
	for _, r := range w.APIRegistrations {
		st.regs[r.Key] = r
	}
	for _, c := range w.OAuthClients {
		st.oauth[c.ID] = c
	}
	for _, sys := range w.Systems {
		sr := &sysRec{System: sys}
		sr.Accounts = nil
		for _, a := range sys.Accounts {
			if a.MaxReleaseMinutes == 0 {
				a.MaxReleaseMinutes = 10080
			}
			if a.DefaultReleaseMinutes == 0 {
				a.DefaultReleaseMinutes = min(120, a.MaxReleaseMinutes)
			}
			ar := &acctRec{Account: a, sys: sr, password: a.Password, lastChange: start, open: map[int]*request{}}
			sr.accounts = append(sr.accounts, ar)
			st.accounts[a.ID] = ar
			for _, name := range a.Policy.Approvers {
				if u := st.users[strings.ToLower(name)]; u != nil {
					u.approves = append(u.approves, ar)
				}
			}
		}
		st.systems[sys.ID] = sr
		st.sysOrder = append(st.sysOrder, sr)
	}
	sort.Slice(st.sysOrder, func(i, j int) bool { return st.sysOrder[i].ID < st.sysOrder[j].ID })
	for _, al := range w.Aliases {
		ar := &aliasRec{Alias: al, acct: st.accounts[al.AccountID]}
		st.aliases[al.ID] = ar
		st.aliasNm[strings.ToLower(al.Name)] = ar
		st.alOrder = append(st.alOrder, ar)
	}
	sort.Slice(st.alOrder, func(i, j int) bool { return st.alOrder[i].ID < st.alOrder[j].ID })
	st.ss = newSecretsSafe(w, start)
	return st
}

// encodeCertPEM is the PEM form of a DER certificate (SelfSignedCert, CACertPEM).
func encodeCertPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
