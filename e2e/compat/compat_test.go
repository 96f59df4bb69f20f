// Package compat checks the claim that a client written by someone else,
// against the Password Safe documentation, works against the simulator
// unchanged: BeyondTrust's own Go client library retrieves managed account
// passwords from pstest exactly as it would from a real Password Safe.
//
// It is a separate module so that the library and its dependencies never
// enter the plugin's go.mod. Run: cd e2e/compat && go test ./...
package compat

import (
	"crypto/x509"
	"log"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/BeyondTrust/go-client-library-passwordsafe/api/authentication"
	"github.com/BeyondTrust/go-client-library-passwordsafe/api/logging"
	managed_accounts "github.com/BeyondTrust/go-client-library-passwordsafe/api/managed_account"
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

// signIn builds the library's objects the way its README and TestClient.go
// do, and signs in. Only one thing is added: the simulator's CA is put in the
// library's TLS roots (the library has no CA-file option; its alternative is
// verifyCa=false).
func signIn(t *testing.T, s *pstest.Server, apiKey, clientID, clientSecret string) (*authentication.AuthenticationObj, logging.Logger) {
	t.Helper()
	logger := logging.NewLogLogger(log.New(testWriter{t}, "", 0))
	apiURL := s.APIURL
	separator := "/"
	retryMinutes := 1
	params := utils.ValidationParams{
		ApiKey:                     apiKey,
		ClientID:                   clientID,
		ClientSecret:               clientSecret,
		ApiUrl:                     &apiURL,
		ClientTimeOutInSeconds:     30,
		Separator:                  &separator,
		VerifyCa:                   true,
		Logger:                     logger,
		RetryMaxElapsedTimeMinutes: &retryMinutes,
	}
	if err := utils.ValidateInputs(params); err != nil {
		t.Fatalf("library input validation: %v", err)
	}
	httpClient, err := utils.GetHttpClient(30, true, "", "", logger)
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
	authParams := authentication.AuthenticationParametersObj{
		HTTPClient:                 *httpClient,
		BackoffDefinition:          bo,
		EndpointURL:                apiURL,
		ClientID:                   clientID,
		ClientSecret:               clientSecret,
		ApiKey:                     apiKey,
		Logger:                     logger,
		RetryMaxElapsedTimeSeconds: 5,
	}
	var auth *authentication.AuthenticationObj
	if apiKey != "" {
		auth, err = authentication.AuthenticateUsingApiKey(authParams)
	} else {
		auth, err = authentication.Authenticate(authParams)
	}
	if err != nil {
		t.Fatal(err)
	}
	user, err := auth.GetPasswordSafeAuthentication()
	if err != nil {
		t.Fatalf("sign in through the library: %v", err)
	}
	if user.UserName != pstest.DemoUserSvcVault {
		t.Fatalf("signed in as %q", user.UserName)
	}
	return auth, logger
}

func TestBeyondTrustLibraryGetsManagedAccountPassword(t *testing.T) {
	cases := []struct {
		name               string
		apiKey, id, secret string
	}{
		{"API key", pstest.DemoAPIKey + ";runas=" + pstest.DemoUserSvcVault + ";", "", ""},
		{"API key with password", pstest.DemoAPIKeyWithPassword + ";runas=" + pstest.DemoUserSvcVault + ";pwd=[" + pstest.DemoPasswordSvcVault + "];", "", ""},
		{"OAuth client credentials", "", pstest.DemoClientID, pstest.DemoClientSecret},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := pstest.NewTLSServer(pstest.DemoWorld())
			defer s.Close()
			auth, logger := signIn(t, s, tc.apiKey, tc.id, tc.secret)

			before := s.Inspect().Password(11)
			accounts, err := managed_accounts.NewManagedAccountObj(*auth, logger)
			if err != nil {
				t.Fatal(err)
			}
			got, err := accounts.GetSecret("db-prod-01/postgres", "/")
			if err != nil {
				t.Fatalf("GetSecret: %v", err)
			}
			if got != before {
				t.Fatalf("GetSecret returned %d characters that are not account 11's password", len(got))
			}

			// The library's request was made for svc-vault and checked in.
			reqs := s.Inspect().Requests()
			if len(reqs) != 1 {
				t.Fatalf("requests: %+v", reqs)
			}
			r := reqs[0]
			if r.UserName != pstest.DemoUserSvcVault || r.SystemID != 1 || r.AccountID != 11 || r.Status != pstest.StatusCheckedIn || r.EndedAt == nil {
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

			// An unknown account is an error, not an empty secret.
			if _, err := accounts.GetSecret("db-prod-01/nobody", "/"); err == nil {
				t.Error("GetSecret of an unknown account: no error")
			}

			if err := auth.SignOut(); err != nil {
				t.Fatalf("SignOut: %v", err)
			}
			for endpoint, want := range map[string]int{
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
			if tc.id != "" && s.Inspect().Calls(pstest.EndpointToken) != 1 {
				t.Errorf("Calls(token) = %d", s.Inspect().Calls(pstest.EndpointToken))
			}
		})
	}
}
