package compat

import (
	"strings"
	"testing"

	"github.com/BeyondTrust/go-client-library-passwordsafe/api/authentication"
	"github.com/BeyondTrust/go-client-library-passwordsafe/api/secrets"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// secretsObj signs in with the API key of svc-vault and returns the
// library's SecretObj for apiVersion ("" sends no ?version=), decrypting,
// with the library's default file cap (5,000,000 bytes) unless maxFile > 0.
func secretsObj(t *testing.T, s *pstest.Server, apiVersion string, maxFile int) (*secrets.SecretObj, *authentication.AuthenticationObj) {
	t.Helper()
	c := credentials{ApiKey: pstest.DemoAPIKey + ";runas=" + pstest.DemoUserSvcVault + ";"}
	httpClient, bo, logger := newLibraryHTTP(t, s, c)
	p := authParams(s, c, httpClient, bo, logger)
	p.APIVersion = apiVersion
	auth, err := authentication.AuthenticateUsingApiKey(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.GetPasswordSafeAuthentication(); err != nil {
		t.Fatalf("sign in through the library: %v", err)
	}
	if maxFile == 0 {
		maxFile = 5_000_000
	}
	obj, err := secrets.NewSecretObj(*auth, logger, maxFile, true)
	if err != nil {
		t.Fatal(err)
	}
	return obj, auth
}

func demoSecretByID(t *testing.T, id string) pstest.Secret {
	t.Helper()
	for _, s := range pstest.DemoWorld().Secrets {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("no demo secret %s", id)
	return pstest.Secret{}
}

// TestBeyondTrustLibrarySecretsSafe runs the library's Secrets Safe flow —
// GET Secrets-Safe/Secrets?path=&title=&separator=&decrypt=true[&version=],
// then GET Secrets-Safe/Secrets/{id}/file/download for a file secret — for
// credential, text and file secrets, by path and title with "/" and
// another separator, once per API version the library may ask for (3.2
// answers the {TotalCount, Data} page, the others a bare array; the
// library reads both), and its folder list and title search.
func TestBeyondTrustLibrarySecretsSafe(t *testing.T) {
	cred := demoSecretByID(t, pstest.DemoSecretDBAdmin)
	text := demoSecretByID(t, pstest.DemoSecretDBConn)
	file := demoSecretByID(t, pstest.DemoSecretWebConf)
	for _, version := range []string{"", "3.0", "3.1", "3.2"} {
		t.Run("version "+version, func(t *testing.T) {
			s := pstest.NewTLSServer(pstest.DemoWorld())
			defer s.Close()
			obj, auth := secretsObj(t, s, version, 0)

			for _, tc := range []struct{ path, sep, want string }{
				{"Team/DB/postgres-admin", "/", cred.Password},
				{"Team/DB/connection string", "/", text.Text},
				{"Team/Web/nginx.conf", "/", file.FileContent},
				{"Team|DB|postgres-admin", "|", cred.Password},
				{"Team|Web|nginx.conf", "|", file.FileContent},
				{"Finance/payroll-api", "/", demoSecretByID(t, pstest.DemoSecretPayroll).Password},
			} {
				got, err := obj.GetSecret(tc.path, tc.sep)
				if err != nil {
					t.Fatalf("GetSecret(%q, %q): %v", tc.path, tc.sep, err)
				}
				if got != tc.want {
					t.Fatalf("GetSecret(%q, %q): %d characters that are not the secret's value", tc.path, tc.sep, len(got))
				}
			}
			many, err := obj.GetSecrets([]string{"Team/DB/postgres-admin", "Finance/bank-export.csv"}, "/")
			if err != nil {
				t.Fatalf("GetSecrets: %v", err)
			}
			if many["Team/DB/postgres-admin"] != cred.Password || many["Finance/bank-export.csv"] != demoSecretByID(t, pstest.DemoSecretBankFile).FileContent {
				t.Fatal("GetSecrets returned wrong values")
			}

			// Missing secrets are errors, not empty values.
			for _, missing := range []string{"Team/DB/nope", "Team/Nope/postgres-admin", "Team/Web/postgres-admin"} {
				if v, err := obj.GetSecret(missing, "/"); err == nil || v != "" || !strings.Contains(err.Error(), "not found") {
					t.Errorf("GetSecret(%q) = %d chars, %v; want a not-found error", missing, len(v), err)
				}
			}

			folders, err := obj.SecretGetFoldersListFlow()
			if err != nil {
				t.Fatalf("SecretGetFoldersListFlow: %v", err)
			}
			var names []string
			for _, f := range folders {
				names = append(names, f.Name)
			}
			if strings.Join(names, ",") != "Team,DB,Web,Finance" {
				t.Fatalf("folders %v", names)
			}
			found, err := obj.SearchSecretByTitleFlow("postgres-admin")
			if err != nil || found.Id != pstest.DemoSecretDBAdmin || found.SecretType != pstest.SecretCredential || found.Password != cred.Password {
				t.Fatalf("SearchSecretByTitleFlow: id %s type %s, %v", found.Id, found.SecretType, err)
			}
			if _, err := obj.SearchSecretByTitleFlow("nope"); err == nil {
				t.Error("SearchSecretByTitleFlow of an unknown title: no error")
			}

			for endpoint, want := range map[string]int{
				// 6 GetSecret + 2 GetSecrets + 3 missing + 2 searches
				pstest.EndpointSecrets:            13,
				pstest.EndpointSecretFileDownload: 3,
				pstest.EndpointSecretsSafeFolders: 1,
				pstest.EndpointCreateRequest:      0,
			} {
				if got := s.Inspect().Calls(endpoint); got != want {
					t.Errorf("Calls(%s) = %d, want %d", endpoint, got, want)
				}
			}
			if err := auth.SignOut(); err != nil {
				t.Fatalf("SignOut: %v", err)
			}
		})
	}
}

// TestBeyondTrustLibrarySecretsSafeLimits: the library's own file cap
// refuses a file larger than it, and a folder not shared with the run-as
// user is not found.
func TestBeyondTrustLibrarySecretsSafeLimits(t *testing.T) {
	s := pstest.NewTLSServer(pstest.DemoWorld())
	defer s.Close()
	obj, _ := secretsObj(t, s, "3.2", 10)
	if _, err := obj.GetSecret("Team/Web/nginx.conf", "/"); err == nil || !strings.Contains(err.Error(), "greater than the maximum allowed size") {
		t.Fatalf("a file over the library's cap: %v", err)
	}
	s.Edit().SetUserSecretsSafe(pstest.DemoUserSvcVault, false)
	if _, err := obj.GetSecret("Team/DB/postgres-admin", "/"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("without the Secrets Safe permission: %v", err)
	}
}
