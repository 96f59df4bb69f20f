package backend

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

func TestFactoryVersion(t *testing.T) {
	conf := logical.TestBackendConfig()
	conf.StorageView = &logical.InmemStorage{}
	lb, err := NewFactory("v0.1.0")(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	if v := lb.(logical.PluginVersioner).PluginVersion().Version; v != "v0.1.0" {
		t.Fatalf("version %q", v)
	}
	lb, err = Factory(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	if v := lb.(logical.PluginVersioner).PluginVersion().Version; v != DefaultVersion || !ValidVersion(v) {
		t.Fatalf("default version %q", v)
	}
	if New("not-a-version").RunningVersion != DefaultVersion {
		t.Fatalf("an invalid version was reported")
	}
	for v, want := range map[string]bool{
		"v0.1.0": true, "0.1.0": true, "v1.2.3-rc.1": true, "v1.2.3+build.5": true, "v0.0.0-dev": true,
		"v1.2": false, "": false, "v01.2.3": false, "latest": false,
	} {
		if ValidVersion(v) != want {
			t.Errorf("ValidVersion(%q) = %t", v, !want)
		}
	}
}

func TestEvents(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	resp := te.mustCreds("pg", nil)
	te.mustRevoke(resp)
	te.b.events.flush()
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

func TestNoEventSenderIsFine(t *testing.T) {
	conf := logical.TestBackendConfig()
	conf.StorageView = &logical.InmemStorage{}
	b := New("v0.1.0")
	if err := b.Setup(context.Background(), conf); err != nil {
		t.Fatal(err)
	}
	b.emit(context.Background(), eventCheckout, "request_id", "1") // must not panic or fail
	b.events.flush()
	b.Cleanup(context.Background())
	b.emit(context.Background(), eventCheckout, "request_id", "2") // after Clean: dropped, no panic
}

func TestSessionsBoundedLRU(t *testing.T) {
	te := newTestBackend(t)
	te.b.sessions.max = 2
	users := []string{pstest.DemoUserAlice, pstest.DemoUserCarol, pstest.DemoUserDave}
	for _, u := range users {
		te.writeRole(u, map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "run_as": u})
	}
	// Role writes look the target up as the role's run-as user: the cache
	// now holds dave and carol. Three users through a cache of two:
	te.b.sessions.bg.Wait()
	te.srv.Inspect().ResetCalls()
	for _, u := range users {
		resp := te.mustCreds(u, nil)
		if st, _ := te.srv.Inspect().Request(requestIDOf(resp)); st.UserName != u {
			t.Fatalf("request by %q, want %q", st.UserName, u)
		}
		te.mustRevoke(resp)
	}
	te.b.sessions.bg.Wait()
	if n := te.b.sessions.len(); n != 2 {
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

// Every path, field and operation is documented for path-help and OpenAPI,
// and every operation with an upstream side effect is forwarded from
// performance standbys and secondaries.
func TestPathsDocumented(t *testing.T) {
	b := New("v0.1.0")
	for _, p := range b.Paths {
		if p.HelpSynopsis == "" || p.HelpDescription == "" || p.DisplayAttrs == nil || p.DisplayAttrs.OperationPrefix != "passwordsafe" {
			t.Errorf("%s: missing help or display attributes", p.Pattern)
		}
		for name, f := range p.Fields {
			if f.Description == "" || f.DisplayAttrs == nil || f.DisplayAttrs.Name == "" {
				t.Errorf("%s: field %s lacks a description or display name", p.Pattern, name)
			}
		}
		for op, h := range p.Operations {
			props := h.Properties()
			if props.Summary == "" || props.DisplayAttrs == nil {
				t.Errorf("%s %s: no summary or display attributes", p.Pattern, op)
			}
			mutating := op != logical.ReadOperation && op != logical.ListOperation
			if strings.HasPrefix(p.Pattern, "creds/") {
				mutating = true // a read creates a Password Safe request
			}
			if mutating && (!props.ForwardPerformanceStandby || !props.ForwardPerformanceSecondary) {
				t.Errorf("%s %s: not forwarded from performance standbys/secondaries", p.Pattern, op)
			}
		}
	}
	if b.Secret(SecretType) == nil || b.Secret(SecretType).Renew == nil {
		t.Fatalf("no renewable lease type")
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

// The wal_rollback_min_age mount option shortens WAL rollback for tests and
// demos; values that would race a running checkout are refused.
func TestMountOptionWALRollbackMinAge(t *testing.T) {
	cases := []struct {
		opts    map[string]string
		want    time.Duration
		wantErr bool
	}{
		{nil, walRollbackMinAge, false},
		{map[string]string{"wal_rollback_min_age": ""}, walRollbackMinAge, false},
		{map[string]string{"wal_rollback_min_age": "45s"}, 45 * time.Second, false},
		{map[string]string{"wal_rollback_min_age": "1h"}, time.Hour, false},
		{map[string]string{"wal_rollback_min_age": "29s"}, 0, true},
		{map[string]string{"wal_rollback_min_age": "soon"}, 0, true},
	}
	for _, tc := range cases {
		b := New("v1.0.0")
		err := b.applyMountOptions(tc.opts)
		if (err != nil) != tc.wantErr {
			t.Fatalf("%v: err %v, want error %v", tc.opts, err, tc.wantErr)
		}
		if err == nil && b.Backend.WALRollbackMinAge != tc.want {
			t.Fatalf("%v: min age %s, want %s", tc.opts, b.Backend.WALRollbackMinAge, tc.want)
		}
	}
}
