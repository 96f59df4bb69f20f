package backend_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// aliased is an entity whose userpass alias, name and ps_user metadata are
// all name (whoever controls alias names chooses it).
func aliased(id, name string) *logical.Entity {
	return &logical.Entity{
		ID:       id,
		Name:     name,
		Aliases:  []*logical.Alias{{MountType: "userpass", MountAccessor: userpassAccessor, Name: name}},
		Metadata: map[string]string{"ps_user": name},
	}
}

var identitySources = []struct {
	name   string
	config map[string]interface{}
}{
	{"entity_name", map[string]interface{}{"run_as_source": "entity_name"}},
	{"entity_alias", map[string]interface{}{"run_as_source": "entity_alias", "run_as_mount_accessor": userpassAccessor}},
	{"entity_metadata", map[string]interface{}{"run_as_source": "entity_metadata", "run_as_metadata_key": "ps_user"}},
}

func merged(ms ...map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// refusedRunAs asserts that every kind of call made as entity is a 403
// naming want, with no upstream call and no WAL entry.
func (te *testEnv) refusedRunAs(entity string, want ...string) {
	te.t.Helper()
	te.srv.Inspect().ResetCalls()
	for _, call := range []struct {
		op   logical.Operation
		path string
		data map[string]interface{}
	}{
		{logical.ReadOperation, "creds/pg", nil},
		{logical.UpdateOperation, "creds/pg", map[string]interface{}{"reason": "x"}},
		{logical.UpdateOperation, "requests", map[string]interface{}{"role": "pg"}},
		{logical.ListOperation, "requests/", nil},
		{logical.UpdateOperation, "requests/1001/approve", nil},
		{logical.UpdateOperation, "requests/1001/checkin", nil},
		// Discovery falls back to the config's run_as for callers without
		// an identity, never for a caller whose identity names a refused user.
		{logical.ListOperation, "aliases/", nil},
		{logical.ListOperation, "accounts/", nil},
		{logical.UpdateOperation, "roles/new", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "run_as_source": "entity_name"}},
	} {
		resp, err := te.as(entity, call.op, call.path, call.data)
		msg := te.mustFail(resp, err, http.StatusForbidden, want...)
		if strings.ContainsAny(msg, "\x00\n\r") {
			te.t.Fatalf("%s: message repeats control characters: %q", call.path, msg)
		}
	}
	if calls := te.srv.Inspect().CallCounts(); len(calls) != 0 {
		te.t.Fatalf("upstream calls for a refused run-as user: %v", calls)
	}
	if te.walCount() != 0 {
		te.t.Fatalf("WAL entries left")
	}
	if e, _ := te.s.Get(context.Background(), "roles/new"); e != nil {
		te.t.Fatalf("a role was written by a refused caller")
	}
}

// An identity naming the config's own run_as (the engine's service
// account), in any case, with or without a domain, is refused by every
// identity source.
func TestRunAsServiceAccountRefused(t *testing.T) {
	names := []string{
		"SVC-Vault",               // other case
		pstest.DemoUserSvcVault,   // exact
		`EXAMPLE\svc-vault`,       // with a domain
		`example\SVC-VAULT`,       // both
		"svc-vault@example.local", // as a UPN
	}
	for _, src := range identitySources {
		t.Run(src.name, func(t *testing.T) {
			te := newTestBackend(t, withConfig(src.config))
			var ents []*logical.Entity
			for i, n := range names {
				ents = append(ents, aliased("ent-svc-"+string(rune('a'+i)), n))
			}
			withIdentity(te, append(ents, person(pstest.DemoUserAlice))...)
			te.writeRole("pg", pgRole)
			for _, e := range ents {
				te.refusedRunAs(e.ID, "service account", "run_as")
			}
			// Everybody else still works.
			if got := te.runAsOf("pg", "ent-alice"); got != pstest.DemoUserAlice {
				t.Fatalf("alice ran as %q", got)
			}
		})
	}
}

// A role taking the user from identity refuses the config's run_as and the
// role's own run_as too.
func TestRunAsRoleServiceAccountRefused(t *testing.T) {
	te := newTestBackend(t)
	withIdentity(te, aliased("ent-svc", "Svc-Vault"), aliased("ent-dave", "DAVE"), person(pstest.DemoUserAlice))
	te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres",
		"run_as_source": "entity_name", "run_as": pstest.DemoUserDave})
	resp, err := te.as("ent-svc", logical.ReadOperation, "creds/pg", nil)
	te.mustFail(resp, err, http.StatusForbidden, "service account")
	resp, err = te.as("ent-dave", logical.ReadOperation, "creds/pg", nil)
	te.mustFail(resp, err, http.StatusForbidden, "run_as")
	if got := te.runAsOf("pg", "ent-alice"); got != pstest.DemoUserAlice {
		t.Fatalf("alice ran as %q", got)
	}
}

// run_as_denied: names and globs, case-insensitive.
func TestRunAsDenied(t *testing.T) {
	te := newTestBackend(t, withConfig(merged(identitySources[1].config,
		map[string]interface{}{"run_as_denied": `BOB,adm-*,*\administrator`})))
	withIdentity(te, aliased("ent-bob", "bob"), aliased("ent-adm", "ADM-root"),
		aliased("ent-admin", `CORP\Administrator`), person(pstest.DemoUserAlice), person(pstest.DemoUserCarol))
	te.writeRole("pg", pgRole)
	for _, e := range []string{"ent-bob", "ent-adm", "ent-admin"} {
		te.refusedRunAs(e, "run_as_denied", "not allowed")
	}
	for _, u := range []string{pstest.DemoUserAlice, pstest.DemoUserCarol} {
		if got := te.runAsOf("pg", "ent-"+u); got != u {
			t.Fatalf("%s ran as %q", u, got)
		}
	}
	d := te.mustOK(te.read("config")).Data
	if got, _ := d["run_as_denied"].([]string); strings.Join(got, ",") != `BOB,adm-*,*\administrator` {
		t.Fatalf("config read run_as_denied = %#v", d["run_as_denied"])
	}
}

// run_as_allowed: a name matching none of the patterns is refused; one
// matching any of them works. DOMAIN\user patterns keep the backslash
// literal.
func TestRunAsAllowed(t *testing.T) {
	te := newTestBackend(t, withConfig(merged(identitySources[0].config,
		map[string]interface{}{"run_as_allowed": []string{"a*", `example\*`, "car?l"}})))
	withIdentity(te, person(pstest.DemoUserAlice), person(pstest.DemoUserCarol), person(pstest.DemoUserErin),
		person(pstest.DemoUserDave), aliased("ent-bob", "bob"), aliased("ent-ex", `EXAMPLEX\erin`), aliased("ent-svc", "svc-vault"))
	te.writeRole("pg", pgRole)
	for _, e := range []string{"ent-dave", "ent-bob", "ent-ex"} {
		te.refusedRunAs(e, "run_as_allowed", "not allowed")
	}
	for _, u := range []string{pstest.DemoUserAlice, pstest.DemoUserCarol, pstest.DemoUserErin} {
		if got := te.runAsOf("pg", person(u).ID); got != u {
			t.Fatalf("%s ran as %q", u, got)
		}
	}
	// Deny wins over allow, and the service account stays refused even when
	// a pattern allows it.
	te.mustOK(te.write("config", map[string]interface{}{"run_as_allowed": "*", "run_as_denied": "carol", "verify": false}))
	te.refusedRunAs(person(pstest.DemoUserCarol).ID, "run_as_denied")
	te.refusedRunAs("ent-svc", "service account")
	if got := te.runAsOf("pg", person(pstest.DemoUserAlice).ID); got != pstest.DemoUserAlice {
		t.Fatalf("alice ran as %q", got)
	}
	// An empty list allows anyone again.
	te.mustOK(te.write("config", map[string]interface{}{"run_as_allowed": "", "run_as_denied": "", "verify": false}))
	if got := te.runAsOf("pg", person(pstest.DemoUserCarol).ID); got != pstest.DemoUserCarol {
		t.Fatalf("carol ran as %q", got)
	}
}

// The lists are checked when config is written.
func TestRunAsPatternsValidated(t *testing.T) {
	te := newTestBackend(t)
	for _, tc := range []struct {
		data map[string]interface{}
		want string
	}{
		{map[string]interface{}{"run_as_allowed": []string{"a\nb"}}, "run_as_allowed"},
		{map[string]interface{}{"run_as_denied": []string{"x\x00"}}, "run_as_denied"},
		{map[string]interface{}{"run_as_denied": []string{strings.Repeat("x", 257)}}, "run_as_denied"},
	} {
		resp, err := te.write("config", merged(tc.data, map[string]interface{}{"verify": false}))
		msg := te.mustFail(resp, err, http.StatusBadRequest, tc.want)
		if strings.ContainsAny(msg, "\x00\n") {
			t.Fatalf("message repeats control characters: %q", msg)
		}
	}
	if d := te.mustOK(te.read("config")).Data; len(d["run_as_allowed"].([]string)) != 0 || len(d["run_as_denied"].([]string)) != 0 {
		t.Fatalf("refused lists were stored: %v", d)
	}
}
