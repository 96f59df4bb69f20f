package backend_test

import (
	"errors"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

func listKeys(t *testing.T, resp *logical.Response) []string {
	t.Helper()
	ks, _ := resp.Data["keys"].([]string)
	out := append([]string(nil), ks...)
	sort.Strings(out)
	return out
}

func keyInfo(t *testing.T, resp *logical.Response, key string) map[string]interface{} {
	t.Helper()
	ki, _ := resp.Data["key_info"].(map[string]interface{})
	m, _ := ki[key].(map[string]interface{})
	if m == nil {
		t.Fatalf("no key_info for %q in %v", key, resp.Data)
	}
	return m
}

func TestAliasesListAndRead(t *testing.T) {
	te := newTestBackend(t)
	resp := te.mustOK(te.do(te.req(logical.ListOperation, "aliases/", nil)))
	if got := strings.Join(listKeys(t, resp), ","); got != "fin-sa,prod-db-admin,web-root" {
		t.Fatalf("keys %s", got)
	}
	fin := keyInfo(t, resp, "fin-sa")
	if fin["alias_id"] != 3 || fin["system_name"] != "fin-db-01" || fin["account_name"] != "sa" ||
		fin["maximum_release_duration"] != 480 || fin["requestable"] != true {
		t.Fatalf("fin-sa: %v", fin)
	}

	a := te.mustOK(te.read("aliases/prod-db-admin"))
	if a.Data["alias_id"] != 1 || a.Data["system_id"] != 1 || a.Data["account_id"] != 11 ||
		a.Data["account_name"] != "postgres" || a.Data["requestable"] != true {
		t.Fatalf("read: %v", a.Data)
	}
	// Case-insensitive, like Password Safe; an unmapped alias is not requestable.
	te.srv.Edit().SetAliasState(2, 0)
	a = te.mustOK(te.read("aliases/WEB-ROOT"))
	if a.Data["alias_name"] != "web-root" || a.Data["requestable"] != false {
		t.Fatalf("read web-root: %v", a.Data)
	}
	r, err := te.read("aliases/no-such-alias")
	te.mustFail(r, err, http.StatusNotFound, "no alias named", `"svc-vault"`)
	r, err = te.read("aliases/café") // a legal name, escaped on the wire
	te.mustFail(r, err, http.StatusNotFound)

	// Names that cannot be alias names: 400 before the wire, or no route.
	te.srv.Inspect().ResetCalls()
	for _, name := range []string{"..", ".", "a\x00b", "tab\there", "nl\n", "\u0085", "\xff", strings.Repeat("n", 1025), "a/b", "", " "} {
		r, err := te.read("aliases/" + name)
		if errors.Is(err, logical.ErrUnsupportedPath) || errors.Is(err, logical.ErrUnsupportedOperation) {
			continue // no route ("aliases/" is the list path: no read there)
		}
		if _, status := failure(r, err); status != http.StatusBadRequest {
			t.Errorf("aliases/%q: status %d (%v), want 400 or no route", name, status, err)
		}
	}
	if len(te.srv.Inspect().CallCounts()) != 0 {
		t.Fatalf("bad names reached Password Safe: %v", te.srv.Inspect().CallCounts())
	}
}

func TestAccountsList(t *testing.T) {
	te := newTestBackend(t)
	list := func(op logical.Operation, data map[string]interface{}) *logical.Response {
		t.Helper()
		return te.mustOK(te.do(te.req(op, "accounts/", data)))
	}
	all := list(logical.ListOperation, nil)
	if n := len(listKeys(t, all)); n != 46 { // 6 demo accounts + 40 load accounts
		t.Fatalf("%d accounts", n)
	}
	sa := keyInfo(t, all, "fin-db-01/sa")
	if sa["system_id"] != 3 || sa["account_id"] != 31 || sa["maximum_release_duration"] != 480 || sa["application_id"] != nil {
		t.Fatalf("fin-db-01/sa: %v", sa)
	}
	app := keyInfo(t, all, "win-app-01/svc_app")
	if app["domain_name"] != "EXAMPLE" || app["application_id"] != 501 || app["application_name"] != "Billing App" {
		t.Fatalf("win-app-01/svc_app: %v", app)
	}

	for _, tc := range []struct {
		name string
		op   logical.Operation
		data map[string]interface{}
		want string
	}{
		{"system name", logical.ListOperation, map[string]interface{}{"system_name": "db-prod-01"}, "db-prod-01/app_user,db-prod-01/postgres"},
		{"system and account: one object upstream", logical.ReadOperation, map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres"}, "db-prod-01/postgres"},
		{"account name", logical.ReadOperation, map[string]interface{}{"account_name": "root"}, "web-01/root"},
		{"system id", logical.ListOperation, map[string]interface{}{"system_id": 3}, "fin-db-01/sa"},
		{"type", logical.ListOperation, map[string]interface{}{"type": "domainlinked"}, "win-app-01/svc_app"},
		{"workgroup and paging", logical.ListOperation, map[string]interface{}{"workgroup_name": "BeyondTrust Workgroup", "limit": 2, "offset": 1}, "db-prod-01/app_user,web-01/root"},
		{"no match", logical.ListOperation, map[string]interface{}{"system_name": "nope"}, ""},
		{"no match for one account", logical.ListOperation, map[string]interface{}{"system_name": "db-prod-01", "account_name": "nope"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(listKeys(t, list(tc.op, tc.data)), ","); got != tc.want {
				t.Fatalf("keys %q, want %q", got, tc.want)
			}
		})
	}

	// Bad filters: 400 before the wire.
	te.srv.Inspect().ResetCalls()
	for _, data := range []map[string]interface{}{
		{"system_name": "db\x00"}, {"account_name": ".."}, {"type": "sys\ntem"}, {"workgroup_name": "\xff"},
		{"limit": 1001}, {"limit": -1}, {"offset": -1}, {"system_id": -3}, {"system_id": "abc"},
		{"system_name": strings.Repeat("s", 1025)},
	} {
		r, err := te.do(te.req(logical.ListOperation, "accounts/", data))
		te.mustFail(r, err, http.StatusBadRequest)
	}
	if len(te.srv.Inspect().CallCounts()) != 0 {
		t.Fatalf("bad filters reached Password Safe: %v", te.srv.Inspect().CallCounts())
	}
	// Password Safe's own refusal of a filter value comes back as a 400.
	r, err := te.do(te.req(logical.ListOperation, "accounts/", map[string]interface{}{"type": "mainframe"}))
	te.mustFail(r, err, http.StatusBadRequest, "type must be")
}

// Discovery acts as the caller's run-as user: each sees what they may
// request; a caller without an entity falls back to the config's run_as,
// with a warning.
func TestDiscoveryRunsAsCaller(t *testing.T) {
	te := newTestBackend(t, withConfig(map[string]interface{}{"run_as_source": "entity_name"}))
	bob := person(pstest.DemoUserBob)
	withIdentity(te, bob)

	resp := te.mustOK(te.as(bob.ID, logical.ListOperation, "accounts/", nil))
	if got := strings.Join(listKeys(t, resp), ","); got != "fin-db-01/sa" { // bob approves only account 31
		t.Fatalf("bob sees %s", got)
	}
	if len(resp.Warnings) != 0 {
		t.Fatalf("warnings: %v", resp.Warnings)
	}
	resp = te.mustOK(te.as("", logical.ListOperation, "accounts/", map[string]interface{}{"system_name": "db-prod-01"}))
	if got := strings.Join(listKeys(t, resp), ","); got != "db-prod-01/app_user,db-prod-01/postgres" {
		t.Fatalf("operator sees %s", got)
	}
	if w := strings.Join(resp.Warnings, " "); !strings.Contains(w, `config's run_as user "svc-vault"`) {
		t.Fatalf("no warning about the fallback: %v", resp.Warnings)
	}
	resp = te.mustOK(te.as("", logical.ListOperation, "aliases/", nil))
	if len(resp.Warnings) == 0 {
		t.Fatalf("no warning about the fallback on aliases/")
	}

	// The requests paths never fall back: no identity, no run-as.
	r, err := te.as("", logical.ListOperation, "requests/", nil)
	te.mustFail(r, err, http.StatusForbidden, "no identity entity")

	// Without a fixed run_as there is nothing to fall back to.
	te.mustOK(te.write("config", map[string]interface{}{"run_as": ""}))
	r, err = te.as("", logical.ListOperation, "accounts/", nil)
	te.mustFail(r, err, http.StatusForbidden, "no identity entity")
}

// Before config is written, every path of this issue says so.
func TestIssue4PathsNeedConfig(t *testing.T) {
	te := newTestBackend(t, withoutConfig())
	for _, c := range []struct {
		op   logical.Operation
		path string
	}{
		{logical.ListOperation, "requests/"}, {logical.ReadOperation, "requests/5"},
		{logical.UpdateOperation, "requests/5/approve"}, {logical.ListOperation, "aliases/"},
		{logical.ReadOperation, "aliases/x"}, {logical.ListOperation, "accounts/"},
	} {
		r, err := te.do(te.req(c.op, c.path, nil))
		te.mustFail(r, err, http.StatusBadRequest, "write config first")
	}
}
