package backend_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

const (
	pgAccount  = 11
	finAccount = 31
)

// TestRotate drives roles/:name/rotate through HandleRequest against the
// simulator, one case per behaviour.
func TestRotate(t *testing.T) {
	const given = "Rotated-Given-Pw-42!"
	type env = testEnv
	cases := []struct {
		name    string
		setup   func(te *env) // before the rotate write
		role    string
		data    map[string]interface{}
		status  int      // 0: success
		msg     []string // in the error, or in the warnings on success
		account int      // whose password must (or must not) change
		changed bool
		check   func(te *env, resp *logical.Response)
	}{
		{name: "generated password", role: "pg", account: pgAccount, changed: true,
			check: func(te *env, resp *logical.Response) {
				ch := te.srv.Inspect().CredentialChanges(pgAccount)
				if len(ch) != 1 || ch[0].PasswordGiven || ch[0].Queue || !ch[0].UpdateSystem || ch[0].UserName != pstest.DemoUserSvcVault {
					t.Fatalf("recorded %+v", ch)
				}
				d := resp.Data
				if d["generated"] != true || d["account_id"] != pgAccount || d["system_name"] != "db-prod-01" ||
					d["run_as"] != pstest.DemoUserSvcVault || d["update_system"] != true || d["queue"] != false {
					t.Fatalf("answer %v", d)
				}
			}},
		{name: "given password, queue and update_system passed through", role: "pg", account: pgAccount, changed: true,
			data: map[string]interface{}{"password": given, "queue": true, "update_system": false},
			msg:  []string{"queue=true", "update_system=false"},
			check: func(te *env, resp *logical.Response) {
				if te.srv.Inspect().Password(pgAccount) != given {
					t.Fatal("the given password was not set")
				}
				ch := te.srv.Inspect().CredentialChanges(pgAccount)
				if len(ch) != 1 || !ch[0].PasswordGiven || !ch[0].Queue || ch[0].UpdateSystem {
					t.Fatalf("recorded %+v", ch)
				}
				if resp.Data["generated"] != false {
					t.Fatalf("answer %v", resp.Data)
				}
			}},
		{name: "checkout after rotation returns the new password", role: "pg", account: pgAccount, changed: true,
			data: map[string]interface{}{"password": given},
			check: func(te *env, _ *logical.Response) {
				resp := te.mustCreds("pg", nil)
				if resp.Data["password"] != given {
					t.Fatal("checkout did not return the rotated password")
				}
				te.mustRevoke(resp)
			}},
		{name: "unknown role", role: "nope", status: http.StatusBadRequest, msg: []string{`role "nope" does not exist`}, account: pgAccount},
		{name: "empty password refused", role: "pg", data: map[string]interface{}{"password": ""}, status: http.StatusBadRequest,
			msg: []string{"password is empty"}, account: pgAccount},
		{name: "update_system=false without password refused", role: "pg", data: map[string]interface{}{"update_system": false},
			status: http.StatusBadRequest, msg: []string{"update_system=false needs password"}, account: pgAccount},
		{name: "run_as cannot be picked", role: "pg", data: map[string]interface{}{"run_as": pstest.DemoUserAlice},
			status: http.StatusBadRequest, msg: []string{"run_as cannot be given here"}, account: pgAccount},
		{name: "refused while a lease is live", role: "pg", account: pgAccount, status: http.StatusConflict,
			setup: func(te *env) { te.mustCreds("pg", nil) },
			msg:   []string{"this mount holds db-prod-01/postgres", "1 lease", "force=true"}},
		{name: "refused while a lease of another role on the same account is live", role: "pg", account: pgAccount,
			status: http.StatusConflict,
			setup: func(te *env) {
				te.writeRole("alias", map[string]interface{}{"alias_name": "prod-db-admin"})
				te.mustCreds("alias", nil)
			},
			msg: []string{`role "alias"`, "1 lease"}},
		{name: "refused while a claim is pending", role: "fin", account: finAccount, status: http.StatusConflict,
			setup: func(te *env) { te.mustOK(te.credsAs("fin", "entity-1")) },
			msg:   []string{"fin-db-01/sa", "1 pending claim"}},
		{name: "forced while a lease is live", role: "pg", account: pgAccount, changed: true,
			data:  map[string]interface{}{"force": true},
			setup: func(te *env) { te.mustCreds("pg", nil) },
			msg:   []string{"force=true: the credential changed under", "1 lease"},
			check: func(te *env, resp *logical.Response) {
				aff := resp.Data["affected"].([]map[string]interface{})
				if len(aff) != 1 || aff[0]["request_id"].(int) == 0 || aff[0]["leases"] != 1 || aff[0]["role"] != "pg" {
					t.Fatalf("affected %v", aff)
				}
			}},
		{name: "alias role rotates the mapped account", role: "alias", account: pgAccount, changed: true,
			setup: func(te *env) { te.writeRole("alias", map[string]interface{}{"alias_name": "prod-db-admin"}) },
			check: func(te *env, resp *logical.Response) {
				if resp.Data["alias_name"] != "prod-db-admin" || resp.Data["account_id"] != pgAccount {
					t.Fatalf("answer %v", resp.Data)
				}
			}},
		{name: "permission refused by Password Safe", role: "alice", account: pgAccount, status: http.StatusForbidden,
			setup: func(te *env) {
				te.writeRole("alice", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "run_as": pstest.DemoUserAlice})
			},
			msg: []string{`run-as user "alice"`, "Account Management (Full control)", "4031"}},
		{name: "account gone from Password Safe", role: "pg", account: pgAccount, status: http.StatusNotFound,
			setup: func(te *env) {
				te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointChangeCredentials, Status: 404, Count: 1})
			},
			msg: []string{"does not know the account", "write the role again"}},
		{name: "outage before the change: unknown, said so", role: "pg", account: pgAccount, status: http.StatusBadGateway,
			data: map[string]interface{}{"password": given},
			setup: func(te *env) {
				te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointChangeCredentials, Status: 503})
			},
			msg: []string{"outcome is unknown", "may or may not have changed"}},
		{name: "answer lost after the change: unknown, said so", role: "pg", account: pgAccount, status: http.StatusBadGateway,
			changed: true, data: map[string]interface{}{"password": given},
			setup: func(te *env) {
				te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointChangeCredentials, Drop: true, AfterHandler: true, Count: 1})
			},
			msg: []string{"outcome is unknown"}},
		{name: "Password Safe unreachable (closed mid-session)", role: "pg", account: pgAccount, status: http.StatusBadGateway,
			setup: func(te *env) { te.srv.Close() },
			msg:   []string{"unreachable"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestBackend(t)
			te.secret(given)
			te.writeRole("pg", pgRole)
			te.writeRole("fin", withWait("0s"))
			if tc.setup != nil {
				tc.setup(te.sub(t))
			}
			closed := strings.Contains(tc.name, "unreachable")
			before := ""
			if !closed {
				before = te.srv.Inspect().Password(tc.account)
			}
			r := te.req(logical.UpdateOperation, "roles/"+tc.role+"/rotate", tc.data)
			r.EntityID = "entity-rotator"
			resp, err := te.do(r)
			body := fmt.Sprintf("%v %#v", err, resp)
			if strings.Contains(body, given) {
				t.Fatal("the given password appears in the answer")
			}
			if tc.status != 0 {
				te.sub(t).mustFail(resp, err, tc.status, tc.msg...)
			} else {
				te.sub(t).mustOK(resp, err)
				warns := strings.Join(resp.Warnings, " | ")
				for _, m := range tc.msg {
					if !strings.Contains(warns, m) {
						t.Fatalf("warnings %q lack %q", warns, m)
					}
				}
			}
			if !closed {
				if changed := te.srv.Inspect().Password(tc.account) != before; changed != tc.changed {
					t.Fatalf("password changed = %v, want %v", changed, tc.changed)
				}
				te.secret(te.srv.Inspect().Password(tc.account))
			}
			if tc.check != nil {
				tc.check(te.sub(t), resp)
			}
			// Rotation events: one per change Password Safe took (outcome
			// changed), and one per change whose outcome is unknown (the
			// credential may have changed: operators must hear of it).
			unknown := tc.status != 0 && strings.Contains(body, "outcome is unknown")
			te.e.FlushEvents()
			te.events.Lock()
			n := 0
			for _, e := range te.events.Events {
				if e.Type != "passwordsafe/rotate" {
					continue
				}
				n++
				md := e.Event.Metadata.AsMap()
				if md["role"] != tc.role || md["account_id"] != fmt.Sprint(tc.account) {
					t.Errorf("rotate event metadata %v", md)
				}
				if want := map[bool]string{true: "unknown", false: "changed"}[unknown]; md["outcome"] != want {
					t.Errorf("rotate event outcome %v, want %s", md["outcome"], want)
				}
				for _, v := range md {
					if s, ok := v.(string); ok && s == given {
						t.Errorf("the rotate event carries the password")
					}
				}
			}
			te.events.Unlock()
			if want := map[bool]int{true: 1, false: 0}[tc.status == 0 || unknown]; n != want {
				t.Fatalf("%d rotate events, want %d", n, want)
			}
		})
	}
}

// A checkout of the account that starts while its credential is changing
// waits for the change: it is never handed the old credential.
func TestRotateHoldsCheckoutsOfTheAccount(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	var lease *logical.Response
	rresp, rerr := rotateDuring(te, "pg", 300*time.Millisecond, func() { lease = te.mustCreds("pg", nil) }, nil)
	te.mustOK(rresp, rerr)
	now := te.srv.Inspect().Password(pgAccount)
	te.secret(now)
	if lease.Data["password"] != now {
		t.Fatalf("a checkout during the rotation was handed a credential Password Safe no longer has")
	}
	te.mustRevoke(lease)
}

// After an alias is re-pointed, the alias role still names the account it
// was written for, and a rotation of the account the alias maps to now must
// hold its checkouts back as it holds the account's own: a checkout through
// the alias that starts while the change is in flight gets the new
// credential, and the rotation (not forced) changes nothing under a lease.
func TestRotateHoldsAliasCheckoutsAfterRemap(t *testing.T) {
	const appAccount = 12
	te := newTestBackend(t)
	te.writeRole("alias", map[string]interface{}{"alias_name": "prod-db-admin"}) // postgres (11) now
	te.writeRole("app", map[string]interface{}{"system_name": "db-prod-01", "account_name": "app_user"})
	te.srv.Edit().SetAliasAccount(1, appAccount)
	var lease *logical.Response
	rresp, rerr := rotateDuring(te, "app", 300*time.Millisecond, func() { lease = te.mustCreds("alias", nil) }, nil)
	te.mustOK(rresp, rerr)
	now := te.srv.Inspect().Password(appAccount)
	te.secret(now)
	if lease.Data["password"] != now {
		t.Fatal("a checkout through the alias during the rotation was handed a credential Password Safe no longer has")
	}
	if aff := rresp.Data["affected"].([]map[string]interface{}); len(aff) != 0 || len(rresp.Warnings) != 0 {
		t.Fatalf("a rotation without force changed the credential under %v; warnings %q", aff, rresp.Warnings)
	}
	te.mustRevoke(lease)
}

// A rotation holds back only its own run-as user's checkouts: another
// user's that begins while the credential changes is affected, and the
// answer says so without claiming a force=true nobody gave.
func TestRotateNamesCheckoutsBegunDuringIt(t *testing.T) {
	// The simulator answers the change after a delay; alice's checkout must
	// be done by then (a slow machine gets a longer delay).
	for _, delay := range []time.Duration{300 * time.Millisecond, time.Second, 3 * time.Second} {
		te := newTestBackend(t)
		te.writeRole("pg", pgRole)
		te.writeRole("alice", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "run_as": pstest.DemoUserAlice})
		var lease *logical.Response
		inTime := true
		rresp, rerr := rotateDuring(te, "pg", delay, func() { lease = te.mustCreds("alice", nil) }, &inTime)
		te.mustOK(rresp, rerr)
		te.secret(te.srv.Inspect().Password(pgAccount))
		te.mustRevoke(lease)
		if !inTime {
			continue
		}
		aff := rresp.Data["affected"].([]map[string]interface{})
		if len(aff) != 1 || aff[0]["request_id"] != requestIDOf(lease) || aff[0]["run_as"] != pstest.DemoUserAlice {
			t.Fatalf("affected %v", aff)
		}
		w := strings.Join(rresp.Warnings, " ")
		if strings.Contains(w, "force=true") || !strings.Contains(w, "began while the credential changed") ||
			!strings.Contains(w, "creds/alice") {
			t.Fatalf("warnings %q", w)
		}
		return
	}
	t.Fatal("alice's checkout never finished while the change was in flight")
}

// A revoked lease whose check-in Password Safe has not taken yet is queued,
// and its request is still active upstream: a rotation must not slip in
// before it, or the check-in that lands later rotates the credential again
// (rotate_on_checkin) and the password the operator set is lost. Rotate
// tries the queued check-in first; if Password Safe still does not take it,
// the rotation is refused (409) unless forced.
func TestRotateWithQueuedCheckin(t *testing.T) {
	const given = "Rotated-Given-Pw-43!"
	queueOne := func(te *testEnv) int {
		lease := te.mustCreds("pg", nil)
		id := requestIDOf(lease)
		te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCheckin, Status: http.StatusServiceUnavailable, Count: 1})
		te.mustRevoke(lease)
		if te.queued(id) == nil || te.status(id) != pstest.StatusActive {
			te.t.Fatalf("request %d: queued %v, %s", id, te.queued(id), te.status(id))
		}
		return id
	}
	rotate := func(te *testEnv, data map[string]interface{}) (*logical.Response, error) {
		return te.write("roles/pg/rotate", data)
	}

	t.Run("queued check-in goes first", func(t *testing.T) {
		te := newTestBackend(t, withConfig(map[string]interface{}{"max_retries": 0}))
		te.secret(given)
		te.writeRole("pg", pgRole)
		id := queueOne(te)
		te.mustOK(rotate(te, map[string]interface{}{"password": given}))
		status, q := te.status(id), te.queued(id)
		te.drain()
		if te.srv.Inspect().Password(pgAccount) != given {
			t.Fatal("the password the rotation set was replaced afterwards (the queued check-in rotated it)")
		}
		if status != pstest.StatusCheckedIn || q != nil {
			t.Fatalf("request %d: %s, queued %v; want checked in before the rotation", id, status, q)
		}
	})

	t.Run("refused while Password Safe does not take it, forced through", func(t *testing.T) {
		te := newTestBackend(t, withConfig(map[string]interface{}{"max_retries": 0}))
		te.secret(given)
		te.writeRole("pg", pgRole)
		id := queueOne(te)
		te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCheckin, Status: http.StatusServiceUnavailable, Count: 1})
		before := te.srv.Inspect().Password(pgAccount)
		resp, err := rotate(te, map[string]interface{}{"password": given})
		te.mustFail(resp, err, http.StatusConflict, fmt.Sprintf("request %d", id), "queued check-in", "force=true")
		if te.srv.Inspect().Password(pgAccount) != before || te.queued(id) == nil {
			t.Fatal("a refused rotation changed something")
		}
		te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCheckin, Status: http.StatusServiceUnavailable, Count: 1})
		resp = te.mustOK(rotate(te, map[string]interface{}{"password": given, "force": true}))
		aff := resp.Data["affected"].([]map[string]interface{})
		if len(aff) != 1 || aff[0]["request_id"] != id || aff[0]["checkin_queued"] != true {
			t.Fatalf("affected %v", aff)
		}
		if w := strings.Join(resp.Warnings, " "); !strings.Contains(w, "queued check-in") {
			t.Fatalf("warnings %q", w)
		}
		te.drain()
		if te.queued(id) != nil || te.status(id) != pstest.StatusCheckedIn {
			t.Fatalf("request %d: %s, queued %v", id, te.status(id), te.queued(id))
		}
		te.secret(te.srv.Inspect().Password(pgAccount))
	})
}

// An alias re-pointed at another account (after the alias role was
// written): the alias role's leases hold the account the alias mapped to
// when they were made, and a rotation of that account, through any role,
// must see them; a rotation of the account the role was written for must
// not be blocked by them. A checkout through an alias whose account is not
// known yet (its credential not read) may be on any account.
func TestRotateSeesAliasLeasesAfterRemap(t *testing.T) {
	const appAccount = 12
	te := newTestBackend(t, withConfig(map[string]interface{}{"max_retries": 0}))
	te.writeRole("alias", map[string]interface{}{"alias_name": "prod-db-admin"}) // maps to postgres (11) now
	te.writeRole("app", map[string]interface{}{"system_name": "db-prod-01", "account_name": "app_user"})
	te.writeRole("pg", pgRole)
	te.srv.Edit().SetAliasAccount(1, appAccount)
	lease := te.mustCreds("alias", nil)
	if rs, _ := te.srv.Inspect().Request(requestIDOf(lease)); rs.AccountID != appAccount {
		t.Fatalf("the alias request is on account %d", rs.AccountID)
	}
	before := te.srv.Inspect().Password(appAccount)
	resp, err := te.write("roles/app/rotate", nil)
	te.mustFail(resp, err, http.StatusConflict, `role "alias"`, "1 lease")
	resp, err = te.write("roles/alias/rotate", nil)
	te.mustFail(resp, err, http.StatusConflict, `role "alias"`, "1 lease")
	if te.srv.Inspect().Password(appAccount) != before {
		t.Fatal("the credential of a live alias lease changed under it")
	}
	// The lease is not on postgres: rotating it is not refused.
	te.mustOK(te.write("roles/pg/rotate", nil))
	te.secret(te.srv.Inspect().Password(pgAccount))
	te.mustRevoke(lease)

	// A checkout through the alias left unfinished (the answer to its POST
	// was lost): its account is unknown until rollback ends it.
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCreateAliasRequest, Drop: true, AfterHandler: true, Count: 1})
	resp, err = te.creds("alias", nil)
	te.mustFail(resp, err, 0)
	resp, err = te.write("roles/app/rotate", nil)
	te.mustFail(resp, err, http.StatusConflict, `role "alias"`, "a checkout in progress")
	if err := te.rollback(true); err != nil {
		t.Fatal(err)
	}
	te.mustOK(te.write("roles/app/rotate", nil))
	te.secret(te.srv.Inspect().Password(appAccount))
}

// rotateDuring writes roles/<role>/rotate with the simulator answering the
// credential change after delay, and runs during once the change is on its
// way to Password Safe. inTime, when given, is left true only if during
// finished before the rotation answered.
func rotateDuring(te *testEnv, role string, delay time.Duration, during func(), inTime *bool) (*logical.Response, error) {
	arrived := make(chan struct{})
	var once sync.Once
	te.srv.Faults().SetFunc(func(endpoint string, _ *http.Request) *pstest.Fault {
		if endpoint != pstest.EndpointChangeCredentials {
			return nil
		}
		once.Do(func() { close(arrived) })
		return &pstest.Fault{Latency: delay}
	})
	defer te.srv.Faults().SetFunc(nil)
	done := make(chan struct{})
	var rresp *logical.Response
	var rerr error
	go func() {
		defer close(done)
		rresp, rerr = te.write("roles/"+role+"/rotate", nil)
	}()
	<-arrived
	during()
	if inTime != nil {
		select {
		case <-done:
			*inTime = false
		default:
		}
	}
	<-done
	return rresp, rerr
}
