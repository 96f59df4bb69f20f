package backend_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// identityView is a test double of Vault's identity store: the test's
// StaticSystemView (TTL defaults) with EntityInfo answering from a map.
// Everything upstream stays the real simulator.
type identityView struct {
	*logical.StaticSystemView

	mu       sync.Mutex
	entities map[string]*logical.Entity
	err      error // EntityInfo fails with it when set
	lookups  int
}

func (v *identityView) EntityInfo(id string) (*logical.Entity, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.lookups++
	if v.err != nil {
		return nil, v.err
	}
	return v.entities[id], nil // nil for an unknown ID, as Vault answers
}

func (v *identityView) put(e *logical.Entity) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.entities[e.ID] = e
}

// withIdentity gives the test backend a system view that knows entities.
// The backend is set up again with the same logger, storage and events;
// only the system view changes.
func withIdentity(te *testEnv, entities ...*logical.Entity) *identityView {
	te.t.Helper()
	v := &identityView{StaticSystemView: te.sys, entities: map[string]*logical.Entity{}}
	for _, e := range entities {
		v.put(e)
	}
	if err := te.b.Setup(context.Background(), &logical.BackendConfig{
		Logger: te.e.Logger(), System: v, StorageView: te.s, EventsSender: te.events,
	}); err != nil {
		te.t.Fatal(err)
	}
	return v
}

// Test mount accessors (what `vault auth list -format=json` shows).
const (
	userpassAccessor = "auth_userpass_5e1a7c3f"
	ldapAccessor     = "auth_ldap_0b9d2e41"
)

// person is a Vault entity named after a demo Password Safe user, with a
// userpass alias of the same name and metadata ps_user=<name>.
func person(name string) *logical.Entity {
	return &logical.Entity{
		ID:   "ent-" + strings.NewReplacer(`\`, "-").Replace(name),
		Name: name,
		Aliases: []*logical.Alias{
			{MountType: "userpass", MountAccessor: userpassAccessor, Name: name},
		},
		Metadata: map[string]string{"ps_user": name},
	}
}

// as builds a request made with a token of entityID ("" = no entity).
func (te *testEnv) as(entityID string, op logical.Operation, path string, data map[string]interface{}) (*logical.Response, error) {
	r := te.req(op, path, data)
	r.EntityID = entityID
	resp, err := te.do(r)
	te.remember(resp)
	return resp, err
}

// runAsOf checks out creds/<role> as entityID and answers the Password
// Safe user the request was made by, revoking the lease.
func (te *testEnv) runAsOf(role, entityID string) string {
	te.t.Helper()
	resp := te.mustOK(te.as(entityID, logical.ReadOperation, "creds/"+role, nil))
	if resp == nil || resp.Secret == nil {
		te.t.Fatalf("creds/%s as %q: no lease: %#v", role, entityID, resp)
	}
	st, ok := te.srv.Inspect().Request(requestIDOf(resp))
	if !ok {
		te.t.Fatalf("request %d unknown to the simulator", requestIDOf(resp))
	}
	te.mustRevoke(resp)
	return st.UserName
}

func TestIdentityRunAsSources(t *testing.T) {
	alice := person(pstest.DemoUserAlice)
	// An entity whose name is not a Password Safe user but whose alias on
	// the userpass mount and metadata are.
	mixed := &logical.Entity{
		ID:   "ent-mixed",
		Name: "Alice Smith",
		Aliases: []*logical.Alias{
			{MountType: "ldap", MountAccessor: ldapAccessor, Name: pstest.DemoUserBob},
			{MountType: "userpass", MountAccessor: userpassAccessor, Name: pstest.DemoUserCarol},
		},
		Metadata: map[string]string{"ps_user": pstest.DemoUserDave},
	}
	erin := person(pstest.DemoUserErin) // a domain user, DOMAIN\user

	cases := []struct {
		name   string
		config map[string]interface{}
		entity string
		want   string
	}{
		{"entity_name", map[string]interface{}{"run_as_source": "entity_name"}, alice.ID, pstest.DemoUserAlice},
		{"entity_name domain user", map[string]interface{}{"run_as_source": "entity_name"}, erin.ID, pstest.DemoUserErin},
		{"entity_alias", map[string]interface{}{"run_as_source": "entity_alias", "run_as_mount_accessor": userpassAccessor}, mixed.ID, pstest.DemoUserCarol},
		{"entity_metadata", map[string]interface{}{"run_as_source": "entity_metadata", "run_as_metadata_key": "ps_user"}, mixed.ID, pstest.DemoUserDave},
		{"fixed ignores identity", map[string]interface{}{"run_as_source": "fixed"}, alice.ID, pstest.DemoUserSvcVault},
		{"default fixed, no entity needed", nil, "", pstest.DemoUserSvcVault},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestBackend(t, withConfig(tc.config))
			withIdentity(te, alice, mixed, erin)
			te.writeRole("pg", pgRole) // no entity: role writes fall back to config's run_as
			if got := te.runAsOf("pg", tc.entity); got != tc.want {
				t.Fatalf("request made by %q, want %q", got, tc.want)
			}
		})
	}
}

func TestIdentityRoleOverridesConfig(t *testing.T) {
	te := newTestBackend(t) // config: fixed svc-vault
	alice, carol := person(pstest.DemoUserAlice), person(pstest.DemoUserCarol)
	withIdentity(te, alice, carol)
	te.writeRole("pg", pgRole)
	te.writeRole("pg-me", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "run_as_source": "entity_name"})
	te.writeRole("pg-alias", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres",
		"run_as_source": "entity_alias", "run_as_mount_accessor": userpassAccessor})

	if got := te.runAsOf("pg", alice.ID); got != pstest.DemoUserSvcVault {
		t.Fatalf("role without run-as settings ran as %q, want the config's svc-vault", got)
	}
	if got := te.runAsOf("pg-me", alice.ID); got != pstest.DemoUserAlice {
		t.Fatalf("role with run_as_source=entity_name ran as %q, want alice", got)
	}
	if got := te.runAsOf("pg-alias", carol.ID); got != pstest.DemoUserCarol {
		t.Fatalf("role with run_as_source=entity_alias ran as %q, want carol", got)
	}

	// And a role's fixed run_as overrides an identity-based config.
	te2 := newTestBackend(t, withConfig(map[string]interface{}{"run_as_source": "entity_name"}))
	withIdentity(te2, alice)
	te2.writeRole("pg-dave", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "run_as": pstest.DemoUserDave})
	if got := te2.runAsOf("pg-dave", alice.ID); got != pstest.DemoUserDave {
		t.Fatalf("role with run_as=dave ran as %q", got)
	}
	if got := te2.runAsOf("pg-dave", ""); got != pstest.DemoUserDave {
		t.Fatalf("role with run_as=dave, caller without entity, ran as %q", got)
	}
}

// Every way an identity-derived run-as can be missing is a 403 that names
// what is missing, with no upstream call at all.
func TestIdentityMissing(t *testing.T) {
	noName := &logical.Entity{ID: "ent-noname"}
	disabled := person(pstest.DemoUserAlice)
	disabled.ID, disabled.Disabled = "ent-disabled", true
	otherMount := &logical.Entity{ID: "ent-ldap", Name: "x",
		Aliases: []*logical.Alias{{MountType: "ldap", MountAccessor: ldapAccessor, Name: pstest.DemoUserAlice}}}
	emptyMeta := &logical.Entity{ID: "ent-meta", Name: "y", Metadata: map[string]string{"ps_user": ""}}
	long := &logical.Entity{ID: "ent-long", Name: strings.Repeat("a", 300)}
	ctl := &logical.Entity{ID: "ent-ctl", Name: "ali\nce"}
	semi := &logical.Entity{ID: "ent-semi", Name: "alice; runas=bob"}
	spaces := &logical.Entity{ID: "ent-space", Name: " alice"}

	byName := map[string]interface{}{"run_as_source": "entity_name"}
	byAlias := map[string]interface{}{"run_as_source": "entity_alias", "run_as_mount_accessor": userpassAccessor}
	byMeta := map[string]interface{}{"run_as_source": "entity_metadata", "run_as_metadata_key": "ps_user"}
	cases := []struct {
		name   string
		config map[string]interface{}
		entity string
		want   []string
	}{
		{"no entity", byName, "", []string{"no identity entity", "run_as_source=entity_name"}},
		{"unknown entity", byName, "ent-gone", []string{"ent-gone", "not found"}},
		{"disabled entity", byName, disabled.ID, []string{"disabled"}},
		{"entity without name", byName, noName.ID, []string{"has no name"}},
		{"no alias on the mount", byAlias, otherMount.ID, []string{userpassAccessor, "no alias on that mount"}},
		{"no alias, no entity", byAlias, "", []string{"no identity entity"}},
		{"metadata key missing", byMeta, otherMount.ID, []string{`"ps_user"`, "no value", "identity/entity/id/ent-ldap"}},
		{"metadata value empty", byMeta, emptyMeta.ID, []string{`"ps_user"`, "no value"}},
		{"name too long", byName, long.ID, []string{"longer than 256"}},
		{"name with a newline", byName, ctl.ID, []string{"control characters"}},
		{"name with a separator", byName, semi.ID, []string{"';'"}},
		{"name with spaces around", byName, spaces.ID, []string{"spaces"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestBackend(t, withConfig(tc.config))
			withIdentity(te, noName, disabled, otherMount, emptyMeta, long, ctl, semi, spaces)
			te.writeRole("pg", pgRole)
			te.srv.Inspect().ResetCalls()
			for _, call := range []struct {
				op   logical.Operation
				path string
				data map[string]interface{}
			}{
				{logical.ReadOperation, "creds/pg", nil},
				{logical.UpdateOperation, "requests", map[string]interface{}{"role": "pg"}},
				{logical.ListOperation, "requests/", nil},
				{logical.UpdateOperation, "requests/7/approve", nil},
			} {
				resp, err := te.as(tc.entity, call.op, call.path, call.data)
				msg := te.mustFail(resp, err, http.StatusForbidden, tc.want...)
				if strings.Contains(msg, "runas=bob") || strings.Contains(msg, "ali\nce") {
					t.Fatalf("the message repeats the invalid user name: %q", msg)
				}
			}
			if n := len(te.srv.Inspect().CallCounts()); n != 0 {
				t.Fatalf("upstream calls made for a caller without a run-as user: %v", te.srv.Inspect().CallCounts())
			}
			if te.walCount() != 0 {
				t.Fatalf("WAL entries left")
			}
		})
	}
}

func TestIdentityLookupFails(t *testing.T) {
	te := newTestBackend(t, withConfig(map[string]interface{}{"run_as_source": "entity_name"}))
	v := withIdentity(te)
	v.err = errors.New("identity store sealed")
	te.writeRole("pg", pgRole)
	_, err := te.as("ent-x", logical.ReadOperation, "creds/pg", nil)
	if err == nil || !strings.Contains(err.Error(), "identity store sealed") {
		t.Fatalf("err = %v", err)
	}
}

// Identity-derived run-as needs an API registration without a password.
func TestIdentityWithPassword(t *testing.T) {
	te := newTestBackend(t)
	resp, err := te.write("config", map[string]interface{}{
		"api_key": pstest.DemoAPIKeyWithPassword, "password": pstest.DemoPasswordSvcVault, "run_as_source": "entity_name",
	})
	te.mustFail(resp, err, http.StatusBadRequest, "does not require the user's password", "run_as_source=entity_name")

	// A role asking for identity while config has a password: refused at
	// role write (the fallback to config's run_as is only for a missing
	// identity), and nothing is stored.
	te.mustOK(te.write("config", map[string]interface{}{"api_key": pstest.DemoAPIKeyWithPassword, "password": pstest.DemoPasswordSvcVault}))
	withIdentity(te, person(pstest.DemoUserAlice))
	role := map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "run_as_source": "entity_name"}
	resp, err = te.write("roles/pg-me", role)
	te.mustFail(resp, err, http.StatusBadRequest, "does not require the user's password")
	if e, _ := te.s.Get(context.Background(), "roles/pg-me"); e != nil {
		t.Fatalf("refused role was stored")
	}

	// Written while config had no password, then config gains one: refused at use.
	te.mustOK(te.write("config", map[string]interface{}{"api_key": pstest.DemoAPIKey, "password": ""}))
	te.writeRole("pg-me", role)
	te.mustOK(te.write("config", map[string]interface{}{"api_key": pstest.DemoAPIKeyWithPassword, "password": pstest.DemoPasswordSvcVault}))
	te.srv.Inspect().ResetCalls()
	resp, err = te.as("ent-alice", logical.ReadOperation, "creds/pg-me", nil)
	msg := te.mustFail(resp, err, http.StatusBadRequest, `role "pg-me"`, "does not require the user's password",
		`clear the password (vault write passwordsafe/config password="" ...)`)
	if resp != nil || err == nil {
		t.Fatalf("want the coded error every path gives, got response %v", resp)
	}
	if strings.Contains(msg, pstest.DemoPasswordSvcVault) {
		t.Fatalf("password in message")
	}
	if len(te.srv.Inspect().CallCounts()) != 0 {
		t.Fatalf("upstream calls: %v", te.srv.Inspect().CallCounts())
	}
}

// One session per run-as user, reused; beyond the bound the least recently
// used is signed out.
func TestIdentitySessionBound(t *testing.T) {
	te := newTestBackend(t, withConfig(map[string]interface{}{"run_as_source": "entity_name"}))
	// Not svc-vault: the config's own run_as is never taken from an identity.
	users := []string{pstest.DemoUserAlice, pstest.DemoUserCarol, pstest.DemoUserDave, pstest.DemoUserBob, pstest.DemoUserErin}
	var ents []*logical.Entity
	for _, u := range users {
		ents = append(ents, person(u))
	}
	withIdentity(te, ents...)
	te.e.SetMaxSessions(2)

	list := func(e *logical.Entity) {
		t.Helper()
		te.mustOK(te.as(e.ID, logical.ListOperation, "requests/", nil))
		te.e.WaitSessionSignouts() // evicted sessions sign out in the background
	}
	calls := func(signIns, signOuts int) {
		t.Helper()
		if got := te.srv.Inspect().Calls("POST Auth/SignAppin"); got != signIns {
			t.Fatalf("sign-ins = %d, want %d", got, signIns)
		}
		if got := te.srv.Inspect().Calls("POST Auth/Signout"); got != signOuts {
			t.Fatalf("sign-outs = %d, want %d", got, signOuts)
		}
	}
	list(ents[0]) // alice
	list(ents[1]) // carol
	list(ents[0]) // alice again: her session is reused
	calls(2, 0)
	list(ents[2]) // dave: carol (least recently used) is signed out
	calls(3, 1)
	list(ents[3]) // bob: alice goes
	list(ents[4]) // erin: dave goes
	calls(5, 3)
	if n := te.e.SessionsLen(); n != 2 {
		t.Fatalf("%d sessions kept, bound 2", n)
	}
	if live := te.srv.Inspect().Sessions(); live != 2 {
		t.Fatalf("the simulator has %d live sessions, want 2", live)
	}
	list(ents[4]) // erin: still there
	list(ents[0]) // alice signs in again
	calls(6, 4)
}
