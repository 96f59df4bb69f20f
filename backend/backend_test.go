package backend_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

func TestEvents(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	resp := te.mustCreds("pg", nil)
	te.mustRevoke(resp)
	te.e.FlushEvents()
	te.events.Lock()
	defer te.events.Unlock()
	var types []string
	for _, e := range te.events.Events {
		types = append(types, string(e.Type))
		md := e.Event.Metadata.AsMap()
		if md["request_id"] == nil || md["role"] != "pg" {
			t.Errorf("event %s metadata %v", e.Type, md)
		}
		for _, v := range md {
			if s, ok := v.(string); ok && s == resp.Data["password"] {
				t.Fatalf("an event carries the password")
			}
		}
	}
	if strings.Join(types, ",") != "passwordsafe/checkout,passwordsafe/checkin" {
		t.Fatalf("events %v", types)
	}
}

func TestSessionsBoundedLRU(t *testing.T) {
	te := newTestBackend(t)
	te.e.SetMaxSessions(2)
	users := []string{pstest.DemoUserAlice, pstest.DemoUserCarol, pstest.DemoUserDave}
	for _, u := range users {
		te.writeRole(u, map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "run_as": u})
	}
	// Role writes look the target up as the role's run-as user: the cache
	// now holds dave and carol. Three users through a cache of two:
	te.e.WaitSessionSignouts()
	te.srv.Inspect().ResetCalls()
	for _, u := range users {
		resp := te.mustCreds(u, nil)
		if st, _ := te.srv.Inspect().Request(requestIDOf(resp)); st.UserName != u {
			t.Fatalf("request by %q, want %q", st.UserName, u)
		}
		te.mustRevoke(resp)
	}
	te.e.WaitSessionSignouts()
	if n := te.e.SessionsLen(); n != 2 {
		t.Fatalf("cached sessions %d, want 2", n)
	}
	// alice evicts carol, carol evicts dave, dave evicts alice.
	if n, m := te.srv.Inspect().Calls(pstest.EndpointSignout), te.srv.Inspect().Calls(pstest.EndpointSignAppin); n != 3 || m != 3 {
		t.Fatalf("sign-outs of evicted sessions = %d, sign-ins %d, want 3 and 3", n, m)
	}
	// Reused while cached: no new sign-in.
	signins := te.srv.Inspect().Calls(pstest.EndpointSignAppin)
	te.mustRevoke(te.mustCreds(pstest.DemoUserDave, nil))
	if te.srv.Inspect().Calls(pstest.EndpointSignAppin) != signins {
		t.Fatalf("a cached session signed in again")
	}
}

func TestCleanSignsOut(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	te.mustRevoke(te.mustCreds("pg", nil))
	te.b.Cleanup(context.Background())
	if n := te.srv.Inspect().Calls(pstest.EndpointSignout); n != 1 || te.srv.Inspect().Sessions() != 0 {
		t.Fatalf("sign-outs %d, live sessions %d", n, te.srv.Inspect().Sessions())
	}
}

func TestPathHelpReadsWell(t *testing.T) {
	te := newTestBackend(t)
	resp, err := te.do(te.req(logical.HelpOperation, "creds/x", nil))
	if err != nil {
		t.Fatal(err)
	}
	help, _ := resp.Data["help"].(string)
	for _, want := range []string{"Check a credential out of Password Safe", "ttl", "reason", "ticket_number",
		"requests/<id>/creds", "rotate_on_checkin", "vault read passwordsafe/creds/db"} {
		if !strings.Contains(help, want) {
			t.Errorf("creds help lacks %q", want)
		}
	}
	if resp.Data["openapi"] == nil {
		t.Errorf("no OpenAPI document")
	}
	for _, p := range []string{"config", "roles/x", "roles/"} {
		resp, err := te.do(te.req(logical.HelpOperation, p, nil))
		if err != nil || !strings.Contains(resp.Data["help"].(string), "Password Safe") && p != "roles/" {
			t.Errorf("help %s: %v", p, err)
		}
	}
	// The OpenAPI document of the whole mount generates.
	root, err := te.do(&logical.Request{Operation: logical.HelpOperation, Path: "", Storage: te.s})
	if err != nil || root.Data["openapi"] == nil {
		t.Fatalf("root help: %v", err)
	}
	doc := root.Data["openapi"].(*framework.OASDocument)
	for _, p := range []string{"/config", "/roles/{name}", "/roles/", "/creds/{name}"} {
		if doc.Paths[p] == nil {
			t.Errorf("OpenAPI lacks %s (has %v)", p, keysOfPaths(doc))
		}
	}
}

func keysOfPaths(doc *framework.OASDocument) []string {
	var ks []string
	for k := range doc.Paths {
		ks = append(ks, k)
	}
	return ks
}
