package client_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
	"testing"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

func TestManagedAccounts(t *testing.T) {
	s := newSim(t)
	c := newClient(t, keyConfig(s, ""))
	ctx := ctxT(t)
	for _, tc := range []struct {
		name  string
		q     client.ManagedAccountsQuery
		check func(t *testing.T, got []client.ManagedAccount)
	}{
		{"single object for system+account", client.ManagedAccountsQuery{SystemName: "db-prod-01", AccountName: "postgres"},
			func(t *testing.T, got []client.ManagedAccount) {
				if len(got) != 1 {
					t.Fatalf("%d accounts", len(got))
				}
				a := got[0]
				if a.SystemID != sysDB || a.AccountID != acctPostgres || a.MaximumReleaseDuration != 10080 ||
					a.DefaultReleaseDuration != 120 || a.SystemName != "db-prod-01" || a.AccountName != "postgres" || a.LastChangeDate == nil {
					t.Errorf("account = %+v", a)
				}
			}},
		{"array for a system", client.ManagedAccountsQuery{SystemName: "web-01"},
			func(t *testing.T, got []client.ManagedAccount) {
				if len(got) != 2 {
					t.Fatalf("%d accounts, want 2", len(got))
				}
			}},
		{"by system ID", client.ManagedAccountsQuery{SystemID: sysWin},
			func(t *testing.T, got []client.ManagedAccount) {
				if len(got) != 1 || got[0].ApplicationID == nil || *got[0].ApplicationID != appBilling ||
					got[0].DomainName != "EXAMPLE" || got[0].ApplicationDisplayName != "Billing App" {
					t.Errorf("got %+v", got)
				}
			}},
		{"everything, paged", client.ManagedAccountsQuery{Limit: 5, Offset: 2},
			func(t *testing.T, got []client.ManagedAccount) {
				if len(got) != 5 {
					t.Errorf("%d accounts, want 5", len(got))
				}
			}},
		{"all", client.ManagedAccountsQuery{},
			func(t *testing.T, got []client.ManagedAccount) {
				if len(got) != 46 {
					t.Errorf("%d accounts, want 46", len(got))
				}
			}},
		{"workgroup and type filters are sent", client.ManagedAccountsQuery{WorkgroupName: "BeyondTrust Workgroup", Type: "system", SystemName: "web-01"},
			func(t *testing.T, got []client.ManagedAccount) {
				if len(got) == 0 {
					t.Errorf("no accounts")
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.ManagedAccounts(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, got)
		})
	}

	a, err := c.ManagedAccount(ctx, "win-app-01", "svc_app")
	if err != nil || a.AccountID != acctSvcApp {
		t.Fatalf("ManagedAccount: %+v, %v", a, err)
	}
	for _, q := range [][2]string{{"db-prod-01", "nobody"}, {"no-such-system", "root"}, {"db-prod-01&accountName=postgres", "x"}} {
		_, err = c.ManagedAccount(ctx, q[0], q[1])
		wantAPIError(t, err, epManaged, 404, 0)
	}
	// API access off: not listed.
	s.Edit().SetAccountAPIEnabled(acctDeploy, false)
	_, err = c.ManagedAccount(ctx, "web-01", "deploy")
	wantAPIError(t, err, epManaged, 404, 0)
}

func TestAliases(t *testing.T) {
	s := newSim(t)
	c := newClient(t, keyConfig(s, ""))
	ctx := ctxT(t)
	all, err := c.Aliases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("%d aliases, want 3", len(all))
	}
	a, err := c.Alias(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if a.AliasName != "web-root" || a.SystemID != sysWeb || a.AccountID != acctRoot || a.AccountName != "root" ||
		len(a.MappedAccounts) == 0 || a.MappedAccounts[0].ManagedAccountID != acctRoot || a.MaximumReleaseDuration != 1440 {
		t.Errorf("Alias(2) = %+v", a)
	}
	b, err := c.AliasByName(ctx, "FIN-SA")
	if err != nil {
		t.Fatal(err)
	}
	if b.AliasID != 3 || b.AccountID != acctSA {
		t.Errorf("AliasByName = %+v", b)
	}
	for _, name := range []string{"nope", "fin-sa&name=web-root", "../Requests", "a b/c?d"} {
		_, err := c.AliasByName(ctx, name)
		wantAPIError(t, err, epAliases, 404, 0)
	}
	_, err = c.Alias(ctx, 99)
	wantAPIError(t, err, epAlias, 404, 0)
	if n := s.Inspect().Calls(epAlias); n != 2 {
		t.Errorf("GET Aliases/{id} calls = %d, want 2", n)
	}
}

// rawGet signs in with plain net/http and returns the body of GET path, to
// check which wire shape the client is decoding in the tests above.
func rawGet(t *testing.T, s *pstest.Server, path string) []byte {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	req, _ := http.NewRequest(http.MethodPost, s.APIURL+"/Auth/SignAppin", nil)
	req.Header.Set("Authorization", client.PSAuthHeader(pstest.DemoAPIKey, pstest.DemoUserSvcVault, ""))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = hc.Get(s.APIURL + "/" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return bytes.TrimSpace(b)
}

func TestManagedAccountsWireShapes(t *testing.T) {
	s := newSim(t)
	for _, tc := range []struct {
		path  string
		first byte
	}{
		{"ManagedAccounts?systemName=db-prod-01&accountName=postgres", '{'},
		{"ManagedAccounts?systemName=db-prod-01", '['},
		{"Aliases?name=web-root", '{'},
		{"Aliases", '['},
		{"ManagedAccounts?systemName=db-prod-01&accountName=nobody", '"'}, // 404 body: a JSON string
	} {
		if b := rawGet(t, s, tc.path); len(b) == 0 || b[0] != tc.first {
			t.Errorf("GET %s answers %.40q..., the tests assume it starts with %q", tc.path, b, tc.first)
		}
	}
}
