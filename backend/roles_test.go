package backend_test

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestRoleTargetsResolved(t *testing.T) {
	te := newTestBackend(t)
	for _, tc := range []struct {
		name string
		data map[string]interface{}
		want map[string]interface{}
	}{
		{"by-names", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres"},
			map[string]interface{}{"target": "account", "system_id": 1, "account_id": 11, "account_max_minutes": 10080, "domain_name": ""}},
		{"by-ids", map[string]interface{}{"system_id": "4", "account_id": 41},
			map[string]interface{}{"target": "account", "system_name": "win-app-01", "account_name": "svc_app", "domain_name": "EXAMPLE", "account_max_minutes": 60}},
		{"alias-name", map[string]interface{}{"alias_name": "web-root"},
			map[string]interface{}{"target": "alias", "alias_id": 2, "system_id": 2, "account_id": 21, "account_name": "root", "account_max_minutes": 1440}},
		{"alias-id", map[string]interface{}{"alias_id": 3},
			map[string]interface{}{"target": "alias", "alias_name": "fin-sa", "system_id": 3, "account_id": 31, "account_max_minutes": 480}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := te.sub(t)
			te.writeRole(tc.name, tc.data)
			d := te.mustOK(te.read("roles/" + tc.name)).Data
			for k, v := range tc.want {
				if !reflect.DeepEqual(d[k], v) {
					t.Errorf("%s = %#v, want %#v", k, d[k], v)
				}
			}
			// Defaults.
			if d["access_type"] != "View" || !reflect.DeepEqual(d["credential_types"], []string{"password"}) ||
				d["conflict_option"] != "none" || d["rotate_on_checkin"] != true || d["approval_wait"] != int64(0) {
				t.Errorf("defaults: %#v", d)
			}
		})
	}
	list := te.mustOK(te.do(te.req(logical.ListOperation, "roles/", nil)))
	if keys := list.Data["keys"].([]string); !reflect.DeepEqual(keys, []string{"alias-id", "alias-name", "by-ids", "by-names"}) {
		t.Fatalf("list = %v", keys)
	}
}

func TestRoleUpdateAndDelete(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("r", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "ttl": "1h", "max_ttl": "8h", "reason": "first"})
	calls := te.srv.Inspect().Calls("GET ManagedAccounts")
	te.writeRole("r", map[string]interface{}{"reason": "second", "conflict_option": "REUSE", "access_type": "rdp"})
	d := te.mustOK(te.read("roles/r")).Data
	if d["reason"] != "second" || d["ttl"] != int64(3600) || d["max_ttl"] != int64(8*3600) || d["account_id"] != 11 ||
		d["conflict_option"] != "reuse" || d["access_type"] != "RDP" {
		t.Fatalf("after update: %#v", d)
	}
	if te.srv.Inspect().Calls("GET ManagedAccounts") != calls {
		t.Fatalf("an update without target fields looked the target up again")
	}
	// A new target replaces the old one entirely.
	te.writeRole("r", map[string]interface{}{"alias_name": "prod-db-admin"})
	d = te.mustOK(te.read("roles/r")).Data
	if d["target"] != "alias" || d["alias_id"] != 1 || d["account_id"] != 11 {
		t.Fatalf("after retarget: %#v", d)
	}
	te.mustOK(te.do(te.req(logical.DeleteOperation, "roles/r", nil)))
	if resp := te.mustOK(te.read("roles/r")); resp != nil {
		t.Fatalf("role still there: %#v", resp)
	}
}

func TestRoleValidation(t *testing.T) {
	te := newTestBackend(t)
	pg := func(kv map[string]interface{}) map[string]interface{} {
		m := map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres"}
		for k, v := range kv {
			m[k] = v
		}
		return m
	}
	te.srv.Edit().SetAliasState(3, 0)
	for _, tc := range []struct {
		name string
		data map[string]interface{}
		want string
	}{
		{"no target", map[string]interface{}{"ttl": "1h"}, "a role needs one target"},
		{"two targets", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "alias_id": 1}, "exactly one target"},
		{"names and ids", map[string]interface{}{"system_name": "db-prod-01", "account_id": 11}, "exactly one target"},
		{"system without account", map[string]interface{}{"system_name": "db-prod-01"}, "go together"},
		{"system id without account id", map[string]interface{}{"system_id": 1}, "go together"},
		{"negative id", map[string]interface{}{"system_id": -1, "account_id": 11}, "must be a positive integer"},
		{"id not an integer", map[string]interface{}{"system_id": "1; drop", "account_id": 11}, "Field validation failed"},
		{"alias id not an integer", map[string]interface{}{"alias_id": "../1"}, "Field validation failed"},
		{"empty alias name", map[string]interface{}{"alias_name": " "}, "must not be empty"},
		{"bad access type", pg(map[string]interface{}{"access_type": "Telnet"}), "access_type must be"},
		{"app without id", pg(map[string]interface{}{"access_type": "App"}), "needs application_id"},
		{"application id without app", pg(map[string]interface{}{"application_id": 501}), "applies to access_type=App only"},
		{"app through alias", map[string]interface{}{"alias_id": 1, "access_type": "App", "application_id": 501}, "cannot be requested through an alias"},
		{"bad credential type", pg(map[string]interface{}{"credential_types": "password,sshkey"}), "credential_types may hold only"},
		{"ttl above max", pg(map[string]interface{}{"ttl": "2h", "max_ttl": "1h"}), "must not be above max_ttl"},
		{"max above account", map[string]interface{}{"system_id": 4, "account_id": 41, "max_ttl": "2h"}, "maximum release duration of 60 minutes"},
		{"max above api", pg(map[string]interface{}{"max_ttl": "525601m"}), "525600 minutes"},
		{"reason too long", pg(map[string]interface{}{"reason": strings.Repeat("r", 1001)}), "reason is longer than 960"},
		{"ticket too long", pg(map[string]interface{}{"ticket_number": strings.Repeat("1", 21)}), "ticket_number is longer than 20"},
		{"negative ticket system", pg(map[string]interface{}{"ticket_system_id": -2}), "ticket_system_id must be a positive integer"},
		{"bad conflict", pg(map[string]interface{}{"conflict_option": "share"}), "conflict_option must be"},
		{"approval wait too long", pg(map[string]interface{}{"approval_wait": "11m"}), "approval_wait must be"},
		{"bad ttl", pg(map[string]interface{}{"ttl": "forever"}), "Field validation failed"},
		{"run_as injection", pg(map[string]interface{}{"run_as": "bob; pwd=[x]"}), "must not contain"},
		{"bad run_as_source", pg(map[string]interface{}{"run_as_source": "header"}), "run_as_source must be one of"},
		{"entity alias without accessor", pg(map[string]interface{}{"run_as_source": "entity_alias"}), "run_as_mount_accessor"},
		{"unknown account", map[string]interface{}{"system_name": "db-prod-01", "account_name": "nobody"}, "no managed account \"nobody\" on system \"db-prod-01\""},
		{"unknown system id", map[string]interface{}{"system_id": 999, "account_id": 11}, "no managed account 11 on system 999"},
		{"account not on system", map[string]interface{}{"system_id": 2, "account_id": 11}, "no managed account 11 on system 2"},
		{"unknown alias", map[string]interface{}{"alias_name": "nope"}, `no alias "nope"`},
		{"unknown alias id", map[string]interface{}{"alias_id": 99}, "no alias 99"},
		{"unmapped alias", map[string]interface{}{"alias_id": 3}, "not mapped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := te.sub(t)
			resp, err := te.write("roles/bad", tc.data)
			te.mustFail(resp, err, http.StatusBadRequest, tc.want)
			if r, _ := te.e.Role(context.Background(), te.s, "bad"); r != nil {
				t.Fatalf("role stored despite the error")
			}
		})
	}
	if n := te.srv.Inspect().Calls("POST Requests"); n != 0 {
		t.Fatalf("role writes made %d requests", n)
	}
}

func TestRoleValidationOnUpdateKeepsOldRole(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("r", map[string]interface{}{"system_id": 4, "account_id": 41, "max_ttl": "30m"})
	resp, err := te.write("roles/r", map[string]interface{}{"max_ttl": "3h"})
	te.mustFail(resp, err, http.StatusBadRequest, "maximum release duration")
	if d := te.mustOK(te.read("roles/r")).Data; d["max_ttl"] != int64(1800) {
		t.Fatalf("failed update changed the role: %#v", d)
	}
}

func TestRoleNeedsConfig(t *testing.T) {
	te := newTestBackend(t, withoutConfig())
	resp, err := te.write("roles/r", pgRole)
	te.mustFail(resp, err, http.StatusBadRequest, "write config before roles")
}
