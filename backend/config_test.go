package backend_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	. "github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

func TestConfigReadHidesSecrets(t *testing.T) {
	te := newTestBackend(t, withConfig(map[string]interface{}{
		"api_key":  pstest.DemoAPIKeyWithPassword,
		"password": pstest.DemoPasswordSvcVault,
		"verify":   true,
	}))
	resp := te.mustOK(te.read("config"))
	d := resp.Data
	if d["api_key_set"] != true || d["password_set"] != true || d["client_secret_set"] != false {
		t.Fatalf("set flags: %#v", d)
	}
	if d["url"] != te.srv.APIURL || d["run_as"] != pstest.DemoUserSvcVault {
		t.Fatalf("url/run_as: %#v", d)
	}
	dump := fmt.Sprint(d)
	for _, s := range []string{pstest.DemoAPIKeyWithPassword, pstest.DemoPasswordSvcVault} {
		if strings.Contains(dump, s) {
			t.Fatalf("config read returns a secret")
		}
	}
	for _, k := range []string{"api_key", "password", "client_secret"} {
		if _, ok := d[k]; ok {
			t.Fatalf("config read has field %q", k)
		}
	}
	// The stored entry is seal-wrapped.
	if sw := te.b.SpecialPaths().SealWrapStorage; len(sw) != 1 || sw[0] != ConfigKey {
		t.Fatalf("SealWrapStorage = %v", sw)
	}
}

func TestConfigUpdateKeepsSecretsAndDefaults(t *testing.T) {
	te := newTestBackend(t)
	te.mustOK(te.write("config", map[string]interface{}{"request_timeout": "45s", "verify": false}))
	cfg, err := te.e.Config(context.Background(), te.s)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.APIKey != pstest.DemoAPIKey || cfg.RequestTimeout.Seconds() != 45 || cfg.MaxRetries != 3 || cfg.MaxConcurrentRequests != 16 {
		t.Fatalf("cfg = %+v", cfg)
	}
}

func TestConfigURLNormalized(t *testing.T) {
	te := newTestBackend(t)
	for _, tc := range []struct{ in, want string }{
		{te.srv.URL, te.srv.APIURL},
		{te.srv.URL + "/", te.srv.APIURL},
		{te.srv.APIURL + "/", te.srv.APIURL},
		{te.srv.URL + "/eEye.RetinaCS.Server/api/public/v3", te.srv.URL + "/eEye.RetinaCS.Server/api/public/v3"},
	} {
		te.mustOK(te.write("config", map[string]interface{}{"url": tc.in, "verify": false}))
		if got := te.mustOK(te.read("config")).Data["url"]; got != tc.want {
			t.Errorf("url %q stored as %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	te := newTestBackend(t, withoutConfig())
	good := func(kv map[string]interface{}) map[string]interface{} {
		m := map[string]interface{}{"url": te.srv.URL, "api_key": pstest.DemoAPIKey, "run_as": "svc-vault", "verify": false, "allow_plain_http": true}
		for k, v := range kv {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	for _, tc := range []struct {
		name string
		data map[string]interface{}
		want string
	}{
		{"no url", good(map[string]interface{}{"url": nil}), "url is required"},
		{"bad scheme", good(map[string]interface{}{"url": "ftp://x"}), "http(s) address"},
		{"no host", good(map[string]interface{}{"url": "https://"}), "http(s) address"},
		{"query", good(map[string]interface{}{"url": "https://x/?a=b"}), "query"},
		{"no auth", good(map[string]interface{}{"api_key": nil}), "set api_key"},
		{"both auths", good(map[string]interface{}{"client_id": "id", "client_secret": "s"}), "not both"},
		{"oauth half", map[string]interface{}{"url": te.srv.URL, "client_id": "id", "allow_plain_http": true}, "both client_id and client_secret"},
		{"oauth run_as", map[string]interface{}{"url": te.srv.URL, "client_id": "id", "client_secret": "s", "run_as": "x", "allow_plain_http": true}, "api_key sign-in only"},
		{"no run_as", good(map[string]interface{}{"run_as": nil}), "needs run_as"},
		{"run_as separator", good(map[string]interface{}{"run_as": "a;pwd=[x]"}), "';'"},
		{"bad source", good(map[string]interface{}{"run_as_source": "ldap"}), "run_as_source must be one of"},
		{"alias source no accessor", good(map[string]interface{}{"run_as_source": "entity_alias"}), "run_as_mount_accessor"},
		{"metadata source no key", good(map[string]interface{}{"run_as_source": "entity_metadata"}), "run_as_metadata_key"},
		{"bad ca", good(map[string]interface{}{"ca_cert": "not a pem"}), "ca_cert holds no PEM"},
		{"timeout low", good(map[string]interface{}{"request_timeout": "0s"}), "request_timeout"},
		{"timeout high", good(map[string]interface{}{"request_timeout": "11m"}), "request_timeout"},
		{"retries", good(map[string]interface{}{"max_retries": 11}), "max_retries"},
		{"retries negative", good(map[string]interface{}{"max_retries": -1}), "max_retries"},
		{"concurrency", good(map[string]interface{}{"max_concurrent_requests": 0}), "max_concurrent_requests"},
		{"concurrency not int", good(map[string]interface{}{"max_concurrent_requests": "many"}), "max_concurrent_requests"},
		{"control char key", good(map[string]interface{}{"api_key": "a\nb"}), "control characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := te.sub(t)
			resp, err := te.write("config", tc.data)
			msg := te.mustFail(resp, err, http.StatusBadRequest, tc.want)
			if strings.Contains(msg, pstest.DemoAPIKey) {
				t.Fatalf("error echoes the API key")
			}
			if cfg, _ := te.e.Config(context.Background(), te.s); cfg != nil {
				t.Fatalf("a config was stored")
			}
		})
	}
}

func TestConfigVerifyErrors(t *testing.T) {
	te := newTestBackend(t, withoutConfig())
	// An address nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + ln.Addr().String()
	ln.Close()

	base := map[string]interface{}{"url": te.srv.URL, "api_key": pstest.DemoAPIKey, "run_as": "svc-vault", "request_timeout": "2s", "max_retries": 0, "allow_plain_http": true}
	with := func(kv map[string]interface{}) map[string]interface{} {
		m := map[string]interface{}{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range kv {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		data  map[string]interface{}
		setup func()
		want  []string
	}{
		{"unreachable", with(map[string]interface{}{"url": deadURL}), nil, []string{"cannot reach Password Safe at " + deadURL}},
		{"bad key", with(map[string]interface{}{"api_key": strings.Repeat("ab", 64)}), nil, []string{"HTTP 401", "api_key, run_as"}},
		{"unknown run_as", with(map[string]interface{}{"run_as": "mallory"}), nil, []string{"HTTP 401", `run_as "mallory"`}},
		{"wrong password", with(map[string]interface{}{"api_key": pstest.DemoAPIKeyWithPassword, "password": "wrong-Pw-9"}), nil, []string{"HTTP 401"}},
		{"missing password", with(map[string]interface{}{"api_key": pstest.DemoAPIKeyWithPassword}), nil, []string{"HTTP 401"}},
		{"bad oauth secret", map[string]interface{}{"url": te.srv.URL, "client_id": pstest.DemoClientID, "client_secret": "nope-nope", "max_retries": 0, "allow_plain_http": true}, nil, []string{"HTTP 401", "client_id or client_secret"}},
		{"licence", base, func() { te.srv.Edit().SetLicenseInvalid(true) }, []string{"HTTP 403", "licence"}},
		{"api disabled", base, func() { te.srv.Edit().SetAPIDisabled(true) }, []string{"HTTP 410", "disabled"}},
		{"no api there", with(map[string]interface{}{"url": te.srv.URL + "/nothing/api/public/v3"}), nil, []string{"HTTP 404", "check url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := te.sub(t)
			te.srv.Edit().SetLicenseInvalid(false)
			te.srv.Edit().SetAPIDisabled(false)
			if tc.setup != nil {
				tc.setup()
			}
			resp, err := te.write("config", tc.data)
			msg := te.mustFail(resp, err, http.StatusBadRequest, tc.want...)
			if !strings.Contains(msg, "verify=false") {
				t.Errorf("message %q does not say how to skip verification", msg)
			}
			for _, s := range []string{pstest.DemoAPIKey, pstest.DemoAPIKeyWithPassword, "wrong-Pw-9", "nope-nope", strings.Repeat("ab", 64)} {
				if strings.Contains(msg, s) {
					t.Fatalf("error echoes a secret: %q", msg)
				}
			}
			if cfg, _ := te.e.Config(context.Background(), te.s); cfg != nil {
				t.Fatalf("a config was stored")
			}
		})
	}
	te.srv.Edit().SetLicenseInvalid(false)
	te.srv.Edit().SetAPIDisabled(false)
	// verify=false stores an unverifiable config.
	te.mustOK(te.write("config", with(map[string]interface{}{"url": deadURL, "verify": false})))
}

func TestConfigVerifiedSessionIsReused(t *testing.T) {
	te := newTestBackend(t, withoutConfig())
	te.mustOK(te.write("config", map[string]interface{}{"url": te.srv.URL, "api_key": pstest.DemoAPIKey, "run_as": "svc-vault", "allow_plain_http": true}))
	te.writeRole("pg", pgRole)
	te.mustRevoke(te.mustCreds("pg", nil))
	if n := te.srv.Inspect().Calls(pstest.EndpointSignAppin); n != 1 {
		t.Fatalf("sign-ins = %d, want 1 (the verifying session is kept)", n)
	}
}

func TestConfigOAuth(t *testing.T) {
	te := newTestBackend(t, withoutConfig())
	te.mustOK(te.write("config", map[string]interface{}{"url": te.srv.URL, "client_id": pstest.DemoClientID, "client_secret": pstest.DemoClientSecret, "allow_plain_http": true}))
	te.writeRole("pg", pgRole)
	resp := te.mustCreds("pg", nil)
	if st, _ := te.srv.Inspect().Request(requestIDOf(resp)); st.UserName != pstest.DemoUserSvcVault {
		t.Fatalf("request made by %q", st.UserName)
	}
	te.mustRevoke(resp)
	// A role may not ask for a run-as user under OAuth.
	resp, err := te.write("roles/alice", map[string]interface{}{"system_name": "db-prod-01", "account_name": "app_user", "run_as": "alice"})
	te.mustFail(resp, err, http.StatusBadRequest, "OAuth")
}

func TestConfigInsecureTLSWarns(t *testing.T) {
	te := newTestBackend(t)
	resp := te.mustOK(te.write("config", map[string]interface{}{"insecure_tls": true, "verify": false}))
	if resp == nil || len(resp.Warnings) == 0 || !strings.Contains(resp.Warnings[0], "insecure_tls") {
		t.Fatalf("no warning: %#v", resp)
	}
	if !strings.Contains(te.logs.String(), "insecure_tls") {
		t.Fatalf("no log warning")
	}
	resp = te.mustOK(te.read("config"))
	if len(resp.Warnings) == 0 {
		t.Fatalf("config read does not warn about insecure_tls")
	}
}

func TestConfigTLS(t *testing.T) {
	srv := pstest.NewTLSServer(pstest.DemoWorld())
	defer srv.Close()
	te := newTestBackend(t, withoutConfig())
	base := map[string]interface{}{"url": srv.URL, "api_key": pstest.DemoAPIKey, "run_as": "svc-vault", "max_retries": 0}
	resp, err := te.write("config", base)
	te.mustFail(resp, err, http.StatusBadRequest, "cannot reach", "certificate")
	base["ca_cert"] = string(srv.CACertPEM())
	te.mustOK(te.write("config", base))
}

func TestConfigChangeDropsSessions(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	te.mustRevoke(te.mustCreds("pg", nil))
	if te.e.SessionsLen() != 1 || te.srv.Inspect().Sessions() != 1 {
		t.Fatalf("sessions: cached %d, upstream %d", te.e.SessionsLen(), te.srv.Inspect().Sessions())
	}
	te.mustOK(te.write("config", map[string]interface{}{"max_retries": 2, "verify": false}))
	if te.e.SessionsLen() != 0 || te.srv.Inspect().Calls(pstest.EndpointSignout) != 1 || te.srv.Inspect().Sessions() != 0 {
		t.Fatalf("after config change: cached %d, sign-outs %d, upstream %d",
			te.e.SessionsLen(), te.srv.Inspect().Calls(pstest.EndpointSignout), te.srv.Inspect().Sessions())
	}
	te.mustRevoke(te.mustCreds("pg", nil))
	if n := te.srv.Inspect().Calls(pstest.EndpointSignAppin); n != 2 {
		t.Fatalf("sign-ins = %d, want 2", n)
	}
}

func TestInvalidateConfigDropsSessions(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	te.mustRevoke(te.mustCreds("pg", nil))
	// Another node changes the config under us (storage written directly).
	cfg, _ := te.e.Config(context.Background(), te.s)
	c := *cfg
	c.RunAs = pstest.DemoUserAlice
	if err := te.s.Put(context.Background(), mustJSONEntry(t, ConfigKey, &c)); err != nil {
		t.Fatal(err)
	}
	te.b.InvalidateKey(context.Background(), ConfigKey)
	if te.e.SessionsLen() != 0 || te.srv.Inspect().Calls(pstest.EndpointSignout) != 1 {
		t.Fatalf("invalidate kept sessions")
	}
	resp := te.mustCreds("pg", nil)
	if st, _ := te.srv.Inspect().Request(requestIDOf(resp)); st.UserName != pstest.DemoUserAlice {
		t.Fatalf("request made by %q after invalidation, want alice", st.UserName)
	}
	te.mustRevoke(resp)
}

func TestInvalidateRoleDropsCache(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	r, _ := te.e.Role(context.Background(), te.s, "pg")
	c := *r
	c.Reason = "changed elsewhere"
	if err := te.s.Put(context.Background(), mustJSONEntry(t, RolePrefix+"pg", &c)); err != nil {
		t.Fatal(err)
	}
	if r, _ := te.e.Role(context.Background(), te.s, "pg"); r.Reason == "changed elsewhere" {
		t.Fatalf("cache not in use (test is meaningless)")
	}
	te.b.InvalidateKey(context.Background(), RolePrefix+"pg")
	if r, _ := te.e.Role(context.Background(), te.s, "pg"); r.Reason != "changed elsewhere" {
		t.Fatalf("role cache not invalidated")
	}
}

func TestConfigDelete(t *testing.T) {
	te := newTestBackend(t)
	te.writeRole("pg", pgRole)
	te.mustOK(te.do(te.req("delete", "config", nil)))
	if resp := te.mustOK(te.read("config")); resp != nil {
		t.Fatalf("config still readable: %#v", resp)
	}
	resp, err := te.creds("pg", nil)
	te.mustFail(resp, err, http.StatusBadRequest, "not configured")
}
