package paths

import (
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/framework"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

func TestAccountsQuery(t *testing.T) {
	fields := accountPaths(nil)[0].Fields
	q := func(raw map[string]interface{}) (client.ManagedAccountsQuery, error) {
		return accountsQuery(&framework.FieldData{Raw: raw, Schema: fields})
	}
	got, err := q(map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "system_id": "1",
		"type": "database", "workgroup_name": "BeyondTrust Workgroup", "limit": 10, "offset": 20})
	want := client.ManagedAccountsQuery{SystemName: "db-prod-01", AccountName: "postgres", SystemID: 1,
		Type: "database", WorkgroupName: "BeyondTrust Workgroup", Limit: 10, Offset: 20}
	if err != nil || got != want {
		t.Fatalf("got %+v, %v", got, err)
	}
	if got, err := q(map[string]interface{}{"system_name": "", "limit": 0, "system_id": 0}); err != nil || got != (client.ManagedAccountsQuery{}) {
		t.Fatalf("empty filters: %+v, %v", got, err)
	}
	for _, raw := range []map[string]interface{}{
		{"system_name": ".."}, {"account_name": "a\x00"}, {"type": "\n"}, {"limit": 1001}, {"limit": -1},
		{"offset": -1}, {"system_id": -1},
	} {
		if _, err := q(raw); err == nil {
			t.Errorf("%v accepted", raw)
		}
	}
}

func TestAccountData(t *testing.T) {
	app := 501
	d := accountData(&client.ManagedAccount{SystemID: 4, SystemName: "win-app-01", AccountID: 41, AccountName: "svc_app",
		DomainName: "EXAMPLE", ApplicationID: &app, MaximumReleaseDuration: 60})
	if d["application_id"] != 501 || d["maximum_release_duration"] != 60 || d["domain_name"] != "EXAMPLE" {
		t.Fatalf("%v", d)
	}
	if d := accountData(&client.ManagedAccount{}); d["application_id"] != nil {
		t.Fatalf("application_id %v for an account without one", d["application_id"])
	}
	for k := range accountData(&client.ManagedAccount{}) {
		if strings.ToLower(k) != k {
			t.Errorf("key %q is not snake_case", k)
		}
	}
}
