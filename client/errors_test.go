package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

func TestParseErrorBody(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		body     string
		wantCode int
		wantMsg  string
	}{
		{"bare number", 403, "4034", 4034, ""},
		{"bare number with newline", 403, "4034\r\n", 4034, ""},
		{"json string with code", 403, `"4034 - Request is not yet approved"`, 4034, "4034 - Request is not yet approved"},
		{"json number", 403, ` 4031 `, 4031, ""},
		{"object message", 403, `{"Message":"4033 - Approver only"}`, 4033, "4033 - Approver only"},
		{"object lower-case", 409, `{"message":"Conflicting request exists 4091"}`, 4091, "Conflicting request exists 4091"},
		{"object with code", 403, `{"code":4035,"message":"Not enough approvers"}`, 4035, "Not enough approvers"},
		{"object with string code", 403, `{"Code":"4036"}`, 4036, ""},
		{"409 without code", 409, `"Conflicting request exists"`, 0, "Conflicting request exists"},
		{"code inside a longer number is not a code", 403, `"request 140341 is not yours"`, 0, "request 140341 is not yours"},
		{"404 keeps no code", 404, `"4034 not found"`, 0, "4034 not found"},
		{"oauth error", 401, `{"error":"invalid_client"}`, 0, "invalid_client"},
		{"oauth description", 400, `{"error":"invalid_request","error_description":"bad grant"}`, 0, "bad grant"},
		{"plain text", 500, "Internal Server Error", 0, "Internal Server Error"},
		{"control characters", 500, "line1\r\nline2\x00\tx", 0, "line1 line2 x"},
		{"empty", 500, "", 0, ""},
		{"broken json string", 403, `"4032 unterminated`, 4032, `"4032 unterminated`},
		{"html page", 502, "<html><body><h1>502 Bad Gateway</h1></body></html>", 0, "<html><body><h1>502 Bad Gateway</h1></body></html>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := client.ParseErrorBody(tc.status, []byte(tc.body))
			if code != tc.wantCode || msg != tc.wantMsg {
				t.Errorf("got (%d, %q), want (%d, %q)", code, msg, tc.wantCode, tc.wantMsg)
			}
		})
	}
	// Capped.
	_, msg := client.ParseErrorBody(500, []byte(strings.Repeat("é", 5000)))
	if n := utf8.RuneCountInString(msg); n > 301 {
		t.Errorf("message of %d runes is not capped", n)
	}
}

func FuzzParseErrorBody(f *testing.F) {
	for _, s := range []string{"4034", `"4034 - x"`, `{"message":"4091"}`, `{"code":4035}`, "", "\xff\xfe", `{"error":1}`} {
		f.Add(403, s)
	}
	f.Fuzz(func(t *testing.T, status int, body string) {
		code, msg := client.ParseErrorBody(status, []byte(body))
		if code != 0 && (code < 4030 || code > 4099) {
			t.Errorf("code %d", code)
		}
		if !utf8.ValidString(msg) || strings.ContainsAny(msg, "\r\n\x00") || utf8.RuneCountInString(msg) > 301 {
			t.Errorf("message %q not clean", msg)
		}
	})
}

func TestErrorHelpers(t *testing.T) {
	e := &client.Error{Op: "PUT Requests/{id}/Checkin", StatusCode: 403, Code: client.CodeNotApproved, Message: "4034 - Request is not yet approved"}
	wrapped := fmt.Errorf("revoke lease: %w", e)
	if got := e.Error(); got != "password safe: PUT Requests/{id}/Checkin: HTTP 403 (4034 request not yet approved): 4034 - Request is not yet approved" {
		t.Errorf("Error() = %q", got)
	}
	if !client.IsNotApproved(wrapped) || !client.IsForbidden(wrapped) || client.IsNotFound(wrapped) || client.IsConflict(wrapped) ||
		client.IsUnauthorized(wrapped) || client.StatusCode(wrapped) != 403 || client.SubCode(wrapped) != 4034 {
		t.Error("helpers do not see through wrapping")
	}
	if client.StatusCode(errors.New("x")) != 0 || client.SubCode(nil) != 0 {
		t.Error("helpers on a plain error")
	}
	for _, code := range []int{4031, 4032, 4033, 4034, 4035, 4036, 4091} {
		if client.CodeText(code) == "unknown sub-code" {
			t.Errorf("CodeText(%d) unknown", code)
		}
	}
}

// TestErrorsHoldNoSecret walks every error path the tests reach and checks
// that neither the error string nor Message holds the API key, a password,
// the client secret or an access token.
func TestErrorsHoldNoSecret(t *testing.T) {
	s := newSim(t)
	pwdCfg := client.Config{BaseURL: s.APIURL, APIKey: pstest.DemoAPIKeyWithPassword, RunAs: pstest.DemoUserAlice, Password: pstest.DemoPasswordAlice}
	ctx := ctxT(t)
	bg := context.Background()
	type path struct {
		name string
		cfg  client.Config
		run  func(c *client.Client) error
	}
	req := client.RequestInput{SystemID: sysDB, AccountID: acctPostgres, DurationMinutes: 5}
	paths := []path{
		{"sign-in 401 with password", client.Config{BaseURL: s.APIURL, APIKey: pstest.DemoAPIKeyWithPassword, RunAs: pstest.DemoUserAlice, Password: "Wrong-" + pstest.DemoPasswordAlice},
			func(c *client.Client) error { _, err := c.SignIn(ctx); return err }},
		{"sign-in 401 wrong key", client.Config{BaseURL: s.APIURL, APIKey: pstest.DemoAPIKey + "00", RunAs: "svc-vault"},
			func(c *client.Client) error { _, err := c.SignIn(ctx); return err }},
		{"oauth bad secret", client.Config{BaseURL: s.APIURL, ClientID: pstest.DemoClientID, ClientSecret: pstest.DemoClientSecret + "x"},
			func(c *client.Client) error { _, err := c.SignIn(ctx); return err }},
		{"oauth 503 on token", oauthConfig(s), func(c *client.Client) error {
			s.Faults().Inject(pstest.Fault{Endpoint: epToken, Status: 503})
			defer s.Faults().Clear()
			_, err := c.SignIn(ctx)
			return err
		}},
		{"oauth 401 after token", oauthConfig(s), func(c *client.Client) error {
			s.Faults().Inject(pstest.Fault{Endpoint: epSignAppin, Status: 401})
			defer s.Faults().Clear()
			_, err := c.SignIn(ctx)
			return err
		}},
		{"409", pwdCfg, func(c *client.Client) error {
			_, _, _ = c.CreateRequest(ctx, req)
			_, _, err := c.CreateRequest(ctx, req)
			return err
		}},
		{"403 4034", pwdCfg, func(c *client.Client) error {
			id, _, err := c.CreateRequest(ctx, client.RequestInput{SystemID: sysFin, AccountID: acctSA, DurationMinutes: 5})
			if err != nil {
				return err
			}
			_, err = c.Credential(ctx, id, "")
			return err
		}},
		{"404 credential", pwdCfg, func(c *client.Client) error { _, err := c.Credential(ctx, 4242, ""); return err }},
		{"404 alias credential", pwdCfg, func(c *client.Client) error { _, err := c.AliasCredential(ctx, 1, 4242, ""); return err }},
		{"404 managed account", pwdCfg, func(c *client.Client) error { _, err := c.ManagedAccount(ctx, "x", "y"); return err }},
		{"401 twice", pwdCfg, func(c *client.Client) error {
			s.Faults().Inject(pstest.Fault{Endpoint: epAliases, Status: 401, Count: 2})
			_, err := c.Aliases(ctx)
			return err
		}},
		{"410", pwdCfg, func(c *client.Client) error {
			s.Edit().SetAPIDisabled(true)
			defer s.Edit().SetAPIDisabled(false)
			_, err := c.Aliases(ctx)
			return err
		}},
		{"500 on GET", pwdCfg, func(c *client.Client) error {
			s.Faults().Inject(pstest.Fault{Endpoint: epAliases, Status: 500})
			defer s.Faults().Clear()
			_, err := c.Aliases(ctx)
			return err
		}},
		{"dropped POST", pwdCfg, func(c *client.Client) error {
			s.Faults().Inject(pstest.Fault{Endpoint: epPostRequests, Drop: true, Count: 1})
			_, _, err := c.CreateRequest(ctx, client.RequestInput{SystemID: sysWeb, AccountID: acctRoot, DurationMinutes: 5})
			return err
		}},
		{"dropped sign-in", pwdCfg, func(c *client.Client) error {
			s.Faults().Inject(pstest.Fault{Endpoint: epSignAppin, Drop: true})
			defer s.Faults().Clear()
			_, err := c.SignIn(ctx)
			return err
		}},
		{"timeout", func() client.Config { c := pwdCfg; c.Timeout = 50 * time.Millisecond; return c }(), func(c *client.Client) error {
			s.Faults().Inject(pstest.Fault{Endpoint: epSignAppin, Latency: time.Second})
			defer s.Faults().Clear()
			_, err := c.SignIn(ctx)
			return err
		}},
		{"cancelled", pwdCfg, func(c *client.Client) error {
			cctx, cancel := context.WithCancel(bg)
			cancel()
			_, err := c.SignIn(cctx)
			return err
		}},
		{"connection refused", client.Config{BaseURL: "http://127.0.0.1:1/BeyondTrust/api/public/v3", APIKey: pstest.DemoAPIKey, RunAs: "svc-vault", Password: pstest.DemoPasswordSvcVault, MaxRetries: -1},
			func(c *client.Client) error { _, err := c.SignIn(ctx); return err }},
		{"tls unknown authority", client.Config{}, nil}, // filled in below
		{"invalid input", pwdCfg, func(c *client.Client) error { _, _, err := c.CreateRequest(ctx, client.RequestInput{}); return err }},
	}
	tlsSim := pstest.NewTLSServer(pstest.DemoWorld())
	t.Cleanup(tlsSim.Close)
	for i := range paths {
		if paths[i].name == "tls unknown authority" {
			paths[i].cfg = client.Config{BaseURL: tlsSim.APIURL, APIKey: pstest.DemoAPIKey, RunAs: "svc-vault", Password: pstest.DemoPasswordSvcVault}
			paths[i].run = func(c *client.Client) error { _, err := c.SignIn(ctx); return err }
		}
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			c := newClient(t, p.cfg)
			err := p.run(c)
			if err == nil {
				t.Fatal("no error")
			}
			assertNoSecret(t, err, p.cfg.APIKey, p.cfg.Password, p.cfg.ClientSecret)
			// Neither the header nor the form body is ever quoted.
			for _, leak := range []string{"PS-Auth", "client_secret", "pwd=", "Bearer"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q mentions %q", err, leak)
				}
			}
		})
	}
	// Config and Client print without secrets, whatever the verb.
	cfg := pwdCfg
	cfg.ClientSecret = pstest.DemoClientSecret
	c := newClient(t, client.Config{BaseURL: s.APIURL, ClientID: pstest.DemoClientID, ClientSecret: pstest.DemoClientSecret})
	if _, err := c.SignIn(ctx); err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, cfg) + fmt.Sprintf(verb, &cfg) + fmt.Sprintf(verb, c)
		for _, sec := range demoSecrets {
			if strings.Contains(out, sec) {
				t.Errorf("%s prints a secret: %s", verb, out)
			}
		}
	}
}

// A server that echoes a secret in an error body still does not get it into
// the error: Message is redacted.
func TestRedaction(t *testing.T) {
	s := newSim(t)
	c := newClient(t, keyConfig(s, ""))
	// pstest never echoes credentials, so exercise the redaction on the
	// parse path directly: a message holding the key comes back clean.
	_, msg := client.ParseErrorBody(401, []byte(`"bad key `+pstest.DemoAPIKey+`"`))
	if !strings.Contains(msg, pstest.DemoAPIKey) {
		t.Fatal("test premise: the raw message holds the key")
	}
	e := client.NewErrorForTest(c, "POST Auth/SignAppin", 401, []byte(`"bad key `+pstest.DemoAPIKey+` for svc-vault"`), "")
	if strings.Contains(e.Error(), pstest.DemoAPIKey) || !strings.Contains(e.Message, "[redacted]") {
		t.Errorf("not redacted: %v", e)
	}
	// A secret straddling the message cap: redacted first, so no cut-off
	// piece of it survives the cap.
	for pad := 250; pad <= 300; pad += 5 {
		e = client.NewErrorForTest(c, "POST Requests", 403, []byte(strings.Repeat("x", pad)+pstest.DemoAPIKey), "")
		for i := 0; i+12 <= len(pstest.DemoAPIKey); i++ {
			if strings.Contains(e.Error(), pstest.DemoAPIKey[i:i+12]) {
				t.Fatalf("pad %d: a piece of the key survived: %q", pad, e.Message)
			}
		}
	}
	e = client.NewErrorForTest(c, "POST Auth/SignAppin", 401, []byte(`{"message":"token abcdefgh-token rejected"}`), "Bearer abcdefgh-token")
	if strings.Contains(e.Error(), "abcdefgh-token") {
		t.Errorf("bearer token not redacted: %v", e)
	}
}
