package backend_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// A url carrying credentials is refused, and no message, warning or log
// line quotes them, whatever else is wrong with the url.
func TestConfigURLCredentialsNeverEchoed(t *testing.T) {
	const secret = "S3cretPw"
	te := newTestBackend(t, withoutConfig())
	for _, tc := range []struct {
		url  string
		want []string
	}{
		{"https://admin:" + secret + "@pws.example.com/BeyondTrust/api/public/v3", []string{"user info", "api_key"}},
		{"https://admin:" + secret + "@pws.example.com", []string{"user info"}},
		{"https://" + secret + "@pws.example.com", []string{"user info"}},
		{"http://admin:" + secret + "@pws.example.com", []string{"user info"}},
		{"https://admin:" + secret + "@pws.example.com:port/", nil},     // unparseable
		{"https://admin:" + secret + "/x@pws.example.com:443/", nil},    // '/' in the password
		{"https://admin:" + secret + "?x@pws.example.com/", nil},        // '?' in the password
		{"https://admin:" + secret + "#x@pws.example.com/", nil},        // '#' in the password
		{"ftp://admin:" + secret + "@pws.example.com", []string{"url"}}, // wrong scheme
		{"admin:" + secret + "@pws.example.com", []string{"url"}},       // no scheme
		{"https://admin:" + secret + "@", []string{"url"}},              // no host
		{"https://pws.example.com/?token=" + secret, []string{"query"}},
		{"https://pws.example.com/#" + secret, []string{"fragment"}},
		{" https://admin:" + secret + "@pws.example.com\n", nil},
		{"https://admin:" + secret + "\x00@pws.example.com", nil},
	} {
		t.Run(fmt.Sprintf("%q", tc.url), func(t *testing.T) {
			te := te.sub(t)
			resp, err := te.write("config", map[string]interface{}{
				"url": tc.url, "api_key": pstest.DemoAPIKey, "run_as": pstest.DemoUserSvcVault,
				"verify": false, "allow_plain_http": true,
			})
			msg := te.mustFail(resp, err, http.StatusBadRequest, tc.want...)
			if strings.Contains(msg, secret) {
				t.Fatalf("the error quotes the url's credentials: %q", msg)
			}
			if resp != nil && strings.Contains(fmt.Sprint(resp.Data, resp.Warnings), secret) {
				t.Fatalf("the answer quotes the url's credentials: %v", resp)
			}
			if strings.Contains(te.logs.String(), secret) {
				t.Fatalf("the log quotes the url's credentials")
			}
			if cfg, _ := te.e.Config(context.Background(), te.s); cfg != nil {
				t.Fatalf("a config was stored")
			}
		})
	}
}

// Plain http is refused unless allow_plain_http is set; then every write
// and every read warns, and the log says so.
func TestConfigPlainHTTP(t *testing.T) {
	te := newTestBackend(t, withoutConfig())
	base := map[string]interface{}{"url": te.srv.URL, "api_key": pstest.DemoAPIKey, "run_as": pstest.DemoUserSvcVault}
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
	te.srv.Inspect().ResetCalls()
	resp, err := te.write("config", base)
	te.mustFail(resp, err, http.StatusBadRequest, "plain http", "allow_plain_http=true", "https")
	resp, err = te.write("config", with(map[string]interface{}{"allow_plain_http": false}))
	te.mustFail(resp, err, http.StatusBadRequest, "allow_plain_http")
	if cfg, _ := te.e.Config(context.Background(), te.s); cfg != nil {
		t.Fatalf("a plain http config was stored")
	}
	if n := len(te.srv.Inspect().CallCounts()); n != 0 {
		t.Fatalf("a refused config signed in: %v", te.srv.Inspect().CallCounts())
	}

	hasPlainWarning := func(ws []string) bool {
		for _, w := range ws {
			if strings.Contains(w, "allow_plain_http") && strings.Contains(w, "unencrypted") {
				return true
			}
		}
		return false
	}
	resp = te.mustOK(te.write("config", with(map[string]interface{}{"allow_plain_http": true})))
	if resp == nil || !hasPlainWarning(resp.Warnings) {
		t.Fatalf("write with allow_plain_http does not warn: %#v", resp)
	}
	if !strings.Contains(te.logs.String(), "allow_plain_http") {
		t.Fatalf("no log warning")
	}
	for i := 0; i < 2; i++ {
		resp = te.mustOK(te.read("config"))
		if !hasPlainWarning(resp.Warnings) || resp.Data["allow_plain_http"] != true {
			t.Fatalf("read %d: no warning or flag: %v %v", i, resp.Warnings, resp.Data)
		}
	}
	// An update keeps the flag (and the warning)...
	resp = te.mustOK(te.write("config", map[string]interface{}{"max_retries": 2, "verify": false}))
	if resp == nil || !hasPlainWarning(resp.Warnings) {
		t.Fatalf("update does not warn: %#v", resp)
	}
	// ...and clearing it with an http url is refused and changes nothing.
	resp, err = te.write("config", map[string]interface{}{"allow_plain_http": false, "verify": false})
	te.mustFail(resp, err, http.StatusBadRequest, "allow_plain_http")
	if cfg, _ := te.e.Config(context.Background(), te.s); cfg == nil || !cfg.AllowPlainHTTP || cfg.MaxRetries != 2 {
		t.Fatalf("config after a refused update: %+v", cfg)
	}

	// https needs no flag and draws no warning.
	tls := pstest.NewTLSServer(pstest.DemoWorld())
	defer tls.Close()
	resp = te.mustOK(te.write("config", map[string]interface{}{"url": tls.URL, "ca_cert": string(tls.CACertPEM()), "allow_plain_http": false}))
	if resp != nil && len(resp.Warnings) != 0 {
		t.Fatalf("https config warns: %v", resp.Warnings)
	}
	if resp = te.mustOK(te.read("config")); len(resp.Warnings) != 0 || resp.Data["allow_plain_http"] != false {
		t.Fatalf("https config read: %v %v", resp.Warnings, resp.Data)
	}
}
