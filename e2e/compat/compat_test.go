// Package compat checks the claim that a client written by someone else,
// against the Password Safe documentation, works against the simulator
// unchanged: BeyondTrust's own Go client library (v1.3.2, see go.mod)
// retrieves managed account passwords from pstest exactly as it would from
// a real Password Safe.
//
// It is a separate module so that the library and its dependencies never
// enter the plugin's go.mod. Run: make compat (cd e2e/compat && go test ./...)
package compat

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/BeyondTrust/go-client-library-passwordsafe/api/authentication"
	"github.com/BeyondTrust/go-client-library-passwordsafe/api/logging"
	managed_accounts "github.com/BeyondTrust/go-client-library-passwordsafe/api/managed_account"
	"github.com/BeyondTrust/go-client-library-passwordsafe/api/session"
	"github.com/BeyondTrust/go-client-library-passwordsafe/api/utils"
	backoff "github.com/cenkalti/backoff/v4"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// testWriter sends the library's log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// credentials are the library's authentication inputs, named as in its
// utils.ValidationParams.
//
// Certificate and CertificateKey are the client certificate: PEM text (not
// file names), the certificate "-----BEGIN CERTIFICATE-----" … "-----END
// CERTIFICATE-----" and an unencrypted PKCS#8 key "-----BEGIN PRIVATE
// KEY-----" … "-----END PRIVATE KEY-----", each with no trailing newline
// (ValidateInputs checks the exact prefix and suffix) and at most 4096
// characters. The library also offers utils.GetPFXContent(dir, file,
// password) to turn a PKCS#12 file into that pair. withClientCert
// makes them from a pstest.CA.
type credentials struct {
	ApiKey                      string // "<key>;runas=<user>;" or "<key>;runas=<user>;pwd=[<password>];"
	ClientID, ClientSecret      string // OAuth client credentials
	Certificate, CertificateKey string
}

// newLibraryHTTP validates the inputs and builds the library's HTTP client
// the way its README and TestClient.go do. Only one thing is added: the
// simulator's CA is put in the library's TLS roots (the library has no
// CA-file option; its alternative is verifyCa=false).
func newLibraryHTTP(t *testing.T, s *pstest.Server, c credentials) (*utils.HttpClientObj, *backoff.ExponentialBackOff, logging.Logger) {
	t.Helper()
	logger := logging.NewLogLogger(log.New(testWriter{t}, "", 0))
	apiURL := s.APIURL
	separator := "/"
	retryMinutes := 1
	params := utils.ValidationParams{
		ApiKey:                     c.ApiKey,
		ClientID:                   c.ClientID,
		ClientSecret:               c.ClientSecret,
		ApiUrl:                     &apiURL,
		ClientTimeOutInSeconds:     30,
		Separator:                  &separator,
		VerifyCa:                   true,
		Logger:                     logger,
		Certificate:                c.Certificate,
		CertificateKey:             c.CertificateKey,
		RetryMaxElapsedTimeMinutes: &retryMinutes,
	}
	if err := utils.ValidateInputs(params); err != nil {
		t.Fatalf("library input validation: %v", err)
	}
	httpClient, err := utils.GetHttpClient(30, true, c.Certificate, c.CertificateKey, logger)
	if err != nil {
		t.Fatal(err)
	}
	cert := s.Certificate()
	if cert == nil {
		t.Fatal("no simulator certificate")
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	httpClient.HttpClient.Transport.(*http.Transport).TLSClientConfig.RootCAs = pool

	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 100 * time.Millisecond
	bo.MaxElapsedTime = 5 * time.Second
	return httpClient, bo, logger
}

// clientCertFrom is the CA that issues a row's client certificate, or nil
// for none (a func because the server's client CA is fresh per server).
type clientCertFrom func(*testing.T, *pstest.Server) *pstest.CA

// serverClientCA is the simulator's own client CA, whose certificates the
// vault-engine-cert registration accepts.
func serverClientCA(_ *testing.T, s *pstest.Server) *pstest.CA { return s.ClientCA() }

// otherClientCA is a CA the simulator does not trust.
func otherClientCA(t *testing.T, _ *pstest.Server) *pstest.CA {
	t.Helper()
	ca, err := pstest.NewCA("not the simulator's client CA")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// compatClientCN is the common name of the client certificates the tests
// issue (what Inspect().ClientCertSignIns() counts by).
const compatClientCN = "compat-library-client"

// withClientCert returns c with a client certificate from the CA that from
// picks (c itself when from is nil), in the form the library takes: PEM
// text trimmed of its trailing newline, the key unencrypted PKCS#8.
func withClientCert(t *testing.T, s *pstest.Server, c credentials, from clientCertFrom) credentials {
	t.Helper()
	if from == nil {
		return c
	}
	certPEM, keyPEM, err := from(t, s).Issue(compatClientCN, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	c.Certificate = strings.TrimSpace(string(certPEM))
	c.CertificateKey = strings.TrimSpace(string(keyPEM))
	if !strings.HasPrefix(c.CertificateKey, "-----BEGIN PRIVATE KEY-----") {
		t.Fatalf("the key is not PKCS#8, which the library requires: %.40q", c.CertificateKey)
	}
	return c
}

// checkHandshake makes one TLS handshake with the library's own TLS
// settings (TLS 1.2 only) and checks that the simulator negotiates TLS 1.2
// and asks for a client certificate in that first handshake (the library
// would also accept one renegotiation; the simulator needs none).
func checkHandshake(t *testing.T, s *pstest.Server, httpClient *utils.HttpClientObj) {
	t.Helper()
	cfg := httpClient.HttpClient.Transport.(*http.Transport).TLSClientConfig.Clone()
	requested := false
	certs := cfg.Certificates
	cfg.Certificates = nil
	cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		requested = true
		for i := range certs {
			if cri.SupportsCertificate(&certs[i]) == nil {
				return &certs[i], nil
			}
		}
		return &tls.Certificate{}, nil
	}
	conn, err := tls.Dial("tcp", strings.TrimPrefix(s.URL, "https://"), cfg)
	if err != nil {
		t.Fatalf("TLS handshake with the library's settings: %v", err)
	}
	defer conn.Close()
	if v := conn.ConnectionState().Version; v != tls.VersionTLS12 {
		t.Errorf("negotiated %s, want TLS 1.2 (the library's only version)", tls.VersionName(v))
	}
	if !requested {
		t.Error("the simulator did not ask for a client certificate in the first handshake")
	}
}

// authParams are the library's authentication parameters for c.
func authParams(s *pstest.Server, c credentials, httpClient *utils.HttpClientObj, bo *backoff.ExponentialBackOff, logger logging.Logger) authentication.AuthenticationParametersObj {
	return authentication.AuthenticationParametersObj{
		HTTPClient:                 *httpClient,
		BackoffDefinition:          bo,
		EndpointURL:                s.APIURL,
		ClientID:                   c.ClientID,
		ClientSecret:               c.ClientSecret,
		ApiKey:                     c.ApiKey,
		Logger:                     logger,
		RetryMaxElapsedTimeSeconds: 5,
	}
}

// signIn signs in through the library: AuthenticateUsingApiKey when c has an
// API key, else Authenticate (OAuth), then GetPasswordSafeAuthentication.
func signIn(t *testing.T, s *pstest.Server, c credentials) (*authentication.AuthenticationObj, logging.Logger) {
	t.Helper()
	httpClient, bo, logger := newLibraryHTTP(t, s, c)
	p := authParams(s, c, httpClient, bo, logger)
	var auth *authentication.AuthenticationObj
	var err error
	if c.ApiKey != "" {
		auth, err = authentication.AuthenticateUsingApiKey(p)
	} else {
		auth, err = authentication.Authenticate(p)
	}
	if err != nil {
		t.Fatal(err)
	}
	user, err := auth.GetPasswordSafeAuthentication()
	if err != nil {
		t.Fatalf("sign in through the library: %v", err)
	}
	if user.UserName != pstest.DemoUserSvcVault || user.UserId != 1 || user.Name == "" {
		t.Fatalf("signed in as %+v", user)
	}
	return auth, logger
}

// managedAccounts is what the test needs of the library: its managed
// account flow (look up, request, credential, check in) and sign-out.
type managedAccounts interface {
	GetSecret(path, separator string) (string, error)
	GetSecrets(paths []string, separator string) (map[string]string, error)
	SignOut() error
}

// libraryObjects signs in and returns the library's ManagedAccountstObj.
type libraryObjects struct {
	*managed_accounts.ManagedAccountstObj
	auth *authentication.AuthenticationObj
}

func (l libraryObjects) SignOut() error { return l.auth.SignOut() }

func openManagedAccountObj(t *testing.T, s *pstest.Server, c credentials) managedAccounts {
	t.Helper()
	auth, logger := signIn(t, s, c)
	accounts, err := managed_accounts.NewManagedAccountObj(*auth, logger)
	if err != nil {
		t.Fatal(err)
	}
	return libraryObjects{accounts, auth}
}

// tokenSession is the library's session.Session (v1.2.0+): a caller that
// already holds an OAuth access token signs in with it.
type tokenSession struct{ *session.Session }

func (s tokenSession) GetSecret(path, separator string) (string, error) {
	return s.GetManagedAccount(path, separator)
}

func (s tokenSession) GetSecrets(paths []string, separator string) (map[string]string, error) {
	return s.GetManagedAccounts(paths, separator)
}

func (s tokenSession) SignOut() error { return s.Close() }

// openTokenSession gets a token with the library's GetTokenDetails (v1.1.0+)
// and opens a session.NewSessionFromToken with it.
func openTokenSession(t *testing.T, s *pstest.Server, c credentials) managedAccounts {
	t.Helper()
	httpClient, bo, logger := newLibraryHTTP(t, s, c)
	auth, err := authentication.Authenticate(authParams(s, c, httpClient, bo, logger))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.GetTokenDetails(auth.ApiUrl.JoinPath("Auth/connect/token").String(), c.ClientID, c.ClientSecret)
	if err != nil {
		t.Fatalf("GetTokenDetails: %v", err)
	}
	if tok.AccessToken == "" || tok.ExpiresIn != 3600 || tok.TokenType != "Bearer" {
		t.Fatalf("token details: expires_in=%d token_type=%q, token empty: %v", tok.ExpiresIn, tok.TokenType, tok.AccessToken == "")
	}
	sess, err := session.NewSessionFromToken(context.Background(), tok.AccessToken, session.Parameters{
		HTTPClient:        *httpClient,
		BackoffDefinition: bo,
		EndpointURL:       s.APIURL,
		Logger:            logger,
	})
	if err != nil {
		t.Fatalf("NewSessionFromToken: %v", err)
	}
	return tokenSession{sess}
}

// TestBeyondTrustLibraryManagedAccountCheckout runs the library's managed
// account flow — GET ManagedAccounts, POST Requests, GET Credentials, PUT
// Requests/{id}/checkin — once per way of signing in, and checks what the
// simulator saw.
//
// The client-certificate row signs in with the vault-engine-cert
// registration ("Client Certificate Required") and a certificate from the
// simulator's client CA (see credentials for the format the library takes);
// TestBeyondTrustLibraryRejectedSignIn has the same key without a
// certificate and with one from another CA.
func TestBeyondTrustLibraryManagedAccountCheckout(t *testing.T) {
	apiKey := pstest.DemoAPIKey + ";runas=" + pstest.DemoUserSvcVault + ";"
	apiKeyPwd := pstest.DemoAPIKeyWithPassword + ";runas=" + pstest.DemoUserSvcVault + ";pwd=[" + pstest.DemoPasswordSvcVault + "];"
	apiKeyCert := pstest.DemoAPIKeyWithClientCert + ";runas=" + pstest.DemoUserSvcVault + ";"
	oauth := credentials{ClientID: pstest.DemoClientID, ClientSecret: pstest.DemoClientSecret}
	cases := []struct {
		name  string
		creds credentials
		open  func(*testing.T, *pstest.Server, credentials) managedAccounts
		// tokens is how many OAuth tokens the sign-in takes.
		tokens int
		// server starts the simulator; nil is NewTLSServer(DemoWorld()).
		server func() *pstest.Server
		// cert issues the client certificate added to creds; nil for none.
		cert clientCertFrom
	}{
		{"API key", credentials{ApiKey: apiKey}, openManagedAccountObj, 0, nil, nil},
		{"API key with password", credentials{ApiKey: apiKeyPwd}, openManagedAccountObj, 0, nil, nil},
		{"OAuth client credentials", oauth, openManagedAccountObj, 1, nil, nil},
		{"OAuth access token in session.NewSessionFromToken", oauth, openTokenSession, 1, nil, nil},
		{"API key with client certificate", credentials{ApiKey: apiKeyCert}, openManagedAccountObj, 0, nil, serverClientCA},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s *pstest.Server
			if tc.server != nil {
				s = tc.server()
			} else {
				s = pstest.NewTLSServer(pstest.DemoWorld())
			}
			defer s.Close()
			creds := withClientCert(t, s, tc.creds, tc.cert)
			if tc.cert != nil {
				httpClient, _, _ := newLibraryHTTP(t, s, creds)
				checkHandshake(t, s, httpClient)
			}
			accounts := tc.open(t, s, creds)
			if n := s.Inspect().Sessions(); n != 1 {
				t.Fatalf("%d live sessions after sign-in", n)
			}
			// The simulator counts a sign-in with a valid client
			// certificate from its CA, and only then.
			wantCertSignIns := map[string]int{}
			if tc.cert != nil {
				wantCertSignIns[compatClientCN] = 1
			}
			if got := s.Inspect().ClientCertSignIns(); !maps.Equal(got, wantCertSignIns) {
				t.Fatalf("ClientCertSignIns() = %v, want %v", got, wantCertSignIns)
			}

			before := s.Inspect().Password(11)
			got, err := accounts.GetSecret("db-prod-01/postgres", "/")
			if err != nil {
				t.Fatalf("GetSecret: %v", err)
			}
			if got != before {
				t.Fatalf("GetSecret returned %d characters that are not account 11's password", len(got))
			}

			// The library's request was made for svc-vault, as the library
			// sends it (View, 5 minutes, ConflictOption reuse), and checked in.
			reqs := s.Inspect().Requests()
			if len(reqs) != 1 {
				t.Fatalf("requests: %+v", reqs)
			}
			r := reqs[0]
			if r.UserName != pstest.DemoUserSvcVault || r.SystemID != 1 || r.AccountID != 11 ||
				r.AccessType != "View" || r.DurationMinutes != 5 ||
				r.Status != pstest.StatusCheckedIn || r.EndedAt == nil {
				t.Fatalf("the library's request: %+v", r)
			}
			if s.Inspect().Password(11) == before {
				t.Error("check-in did not rotate the password (RotateOnCheckin defaults to true)")
			}

			// Several secrets at once, including a second system.
			before21 := s.Inspect().Password(21)
			secrets, err := accounts.GetSecrets([]string{"db-prod-01/postgres", "web-01/root"}, "/")
			if err != nil {
				t.Fatalf("GetSecrets: %v", err)
			}
			if secrets["web-01/root"] != before21 || secrets["db-prod-01/postgres"] == "" {
				t.Fatal("GetSecrets returned wrong values")
			}
			if n := len(s.Inspect().ActiveRequests()); n != 0 {
				t.Fatalf("%d requests left active", n)
			}
			for _, r := range s.Inspect().Requests() {
				if r.Status != pstest.StatusCheckedIn {
					t.Errorf("request %d: %s, want %s", r.ID, r.Status, pstest.StatusCheckedIn)
				}
			}

			// An unknown account is an error, not an empty secret.
			if _, err := accounts.GetSecret("db-prod-01/nobody", "/"); err == nil {
				t.Error("GetSecret of an unknown account: no error")
			}

			if err := accounts.SignOut(); err != nil {
				t.Fatalf("SignOut: %v", err)
			}
			if n := s.Inspect().Sessions(); n != 0 {
				t.Errorf("%d live sessions after SignOut", n)
			}
			for endpoint, want := range map[string]int{
				pstest.EndpointToken:           tc.tokens,
				pstest.EndpointSignAppin:       1,
				pstest.EndpointManagedAccounts: 4,
				pstest.EndpointCreateRequest:   3,
				pstest.EndpointCredentials:     3,
				pstest.EndpointCheckin:         3,
				pstest.EndpointSignout:         1,
			} {
				if got := s.Inspect().Calls(endpoint); got != want {
					t.Errorf("Calls(%s) = %d, want %d", endpoint, got, want)
				}
			}
		})
	}
}

// TestBeyondTrustLibraryRejectedSignIn: wrong credentials fail in the
// library's sign-in, on the first try, and open no session.
func TestBeyondTrustLibraryRejectedSignIn(t *testing.T) {
	apiKeyCert := credentials{ApiKey: pstest.DemoAPIKeyWithClientCert + ";runas=" + pstest.DemoUserSvcVault + ";"}
	cases := []struct {
		name   string
		creds  credentials
		tokens int
		// cert issues the client certificate added to creds; nil for none.
		cert clientCertFrom
		// reason is in the error besides the 401 (the simulator's message).
		reason string
	}{
		{"API key, unknown run-as user", credentials{ApiKey: pstest.DemoAPIKey + ";runas=nobody;"}, 0, nil, ""},
		{"API key with password, wrong password", credentials{ApiKey: pstest.DemoAPIKeyWithPassword + ";runas=" + pstest.DemoUserSvcVault + ";pwd=[wrong];"}, 0, nil, ""},
		{"API key with password, no password", credentials{ApiKey: pstest.DemoAPIKeyWithPassword + ";runas=" + pstest.DemoUserSvcVault + ";"}, 0, nil, ""},
		{"OAuth, wrong client secret", credentials{ClientID: pstest.DemoClientID, ClientSecret: strings.Repeat("x", 48)}, 1, nil, ""},
		{"API key that requires a client certificate, none", apiKeyCert, 0, nil, "requires a client certificate"},
		{"API key that requires a client certificate, one from another CA", apiKeyCert, 0, otherClientCA, "client certificate is not valid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := pstest.NewTLSServer(pstest.DemoWorld())
			defer s.Close()
			creds := withClientCert(t, s, tc.creds, tc.cert)
			httpClient, bo, logger := newLibraryHTTP(t, s, creds)
			p := authParams(s, creds, httpClient, bo, logger)
			var auth *authentication.AuthenticationObj
			var err error
			if creds.ApiKey != "" {
				auth, err = authentication.AuthenticateUsingApiKey(p)
			} else {
				auth, err = authentication.Authenticate(p)
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = auth.GetPasswordSafeAuthentication()
			if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("sign-in error = %v, want one with status 401 and %q", err, tc.reason)
			}
			if n := s.Inspect().Sessions(); n != 0 {
				t.Errorf("%d live sessions", n)
			}
			if got := s.Inspect().ClientCertSignIns(); len(got) != 0 {
				t.Errorf("ClientCertSignIns() = %v after a refused sign-in", got)
			}
			wantSignIns := 1
			if tc.tokens > 0 {
				wantSignIns = 0 // the token request failed first
			}
			if got := s.Inspect().Calls(pstest.EndpointToken); got != tc.tokens {
				t.Errorf("Calls(token) = %d, want %d (a 401 is not retried)", got, tc.tokens)
			}
			if got := s.Inspect().Calls(pstest.EndpointSignAppin); got != wantSignIns {
				t.Errorf("Calls(SignAppin) = %d, want %d (a 401 is not retried)", got, wantSignIns)
			}
		})
	}
}
