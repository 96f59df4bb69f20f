package client_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

func TestNewValidation(t *testing.T) {
	ok := client.Config{BaseURL: "https://pws.example.com/BeyondTrust/api/public/v3", APIKey: "k", RunAs: "u"}
	for _, tc := range []struct {
		name   string
		mutate func(*client.Config)
		ok     bool
	}{
		{"api key", func(*client.Config) {}, true},
		{"oauth", func(c *client.Config) { c.APIKey, c.RunAs, c.ClientID, c.ClientSecret = "", "", "id", "secret" }, true},
		{"domain user", func(c *client.Config) { c.RunAs = `EXAMPLE\erin` }, true},
		{"password with ; and ]", func(c *client.Config) { c.Password = "a;b]c" }, true},
		{"http", func(c *client.Config) { c.BaseURL = "http://127.0.0.1:8080/BeyondTrust/api/public/v3/" }, true},
		{"no base URL", func(c *client.Config) { c.BaseURL = "" }, false},
		{"not a URL", func(c *client.Config) { c.BaseURL = "://x" }, false},
		{"ftp", func(c *client.Config) { c.BaseURL = "ftp://x/y" }, false},
		{"no host", func(c *client.Config) { c.BaseURL = "https:///BeyondTrust" }, false},
		{"credentials in URL", func(c *client.Config) { c.BaseURL = "https://u:p@x/BeyondTrust" }, false},
		{"query in URL", func(c *client.Config) { c.BaseURL = "https://x/BeyondTrust?a=b" }, false},
		{"no credentials", func(c *client.Config) { c.APIKey, c.RunAs = "", "" }, false},
		{"key without run-as", func(c *client.Config) { c.RunAs = "" }, false},
		{"both kinds", func(c *client.Config) { c.ClientID, c.ClientSecret = "id", "s" }, false},
		{"client id without secret", func(c *client.Config) { c.APIKey, c.RunAs, c.ClientID = "", "", "id" }, false},
		{"oauth with run-as", func(c *client.Config) { c.APIKey, c.ClientID, c.ClientSecret = "", "id", "s" }, false},
		{"newline in key", func(c *client.Config) { c.APIKey = "k\r\nX-Evil: 1" }, false},
		{"semicolon in run-as", func(c *client.Config) { c.RunAs = "u; runas=admin" }, false},
		{"newline in password", func(c *client.Config) { c.Password = "p\nq" }, false},
		{"bad CA", func(c *client.Config) { c.CACertPEM = []byte("not a cert") }, false},
		{"TLS options with HTTPClient", func(c *client.Config) { c.HTTPClient = &http.Client{}; c.InsecureSkipVerify = true }, false},
		{"HTTPClient", func(c *client.Config) { c.HTTPClient = &http.Client{} }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mutate(&cfg)
			_, err := client.New(cfg)
			if tc.ok && err != nil {
				t.Fatalf("New: %v", err)
			}
			if !tc.ok {
				if !errors.Is(err, client.ErrInvalidInput) {
					t.Fatalf("err = %v, want ErrInvalidInput", err)
				}
				for _, secret := range []string{cfg.APIKey, cfg.Password, cfg.ClientSecret} {
					if len(secret) > 2 && strings.Contains(err.Error(), secret) {
						t.Errorf("error %q quotes a secret", err)
					}
				}
			}
		})
	}
	// The caller's http.Client keeps its own jar.
	hc := &http.Client{}
	cfg := ok
	cfg.HTTPClient = hc
	if _, err := client.New(cfg); err != nil {
		t.Fatal(err)
	}
	if hc.Jar != nil {
		t.Error("New changed the caller's http.Client")
	}
}

func TestInputValidation(t *testing.T) {
	s := newSim(t)
	c := newClient(t, keyConfig(s, ""))
	ctx := ctxT(t)
	good := client.RequestInput{SystemID: 1, AccountID: 11, DurationMinutes: 5}
	with := func(f func(*client.RequestInput)) client.RequestInput { in := good; f(&in); return in }
	long := func(n int) string { return strings.Repeat("é", n) } // runes, not bytes

	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"system ID 0", func() error {
			_, _, err := c.CreateRequest(ctx, with(func(in *client.RequestInput) { in.SystemID = 0 }))
			return err
		}},
		{"account ID negative", func() error {
			_, _, err := c.CreateRequest(ctx, with(func(in *client.RequestInput) { in.AccountID = -1 }))
			return err
		}},
		{"duration 0", func() error {
			_, _, err := c.CreateRequest(ctx, with(func(in *client.RequestInput) { in.DurationMinutes = 0 }))
			return err
		}},
		{"duration over a year", func() error {
			_, _, err := c.CreateRequest(ctx, with(func(in *client.RequestInput) { in.DurationMinutes = 525601 }))
			return err
		}},
		{"reason 1001 chars", func() error {
			_, _, err := c.CreateRequest(ctx, with(func(in *client.RequestInput) { in.Reason = long(1001) }))
			return err
		}},
		{"ticket 21 chars", func() error {
			_, _, err := c.CreateRequest(ctx, with(func(in *client.RequestInput) { in.TicketNumber = strings.Repeat("1", 21) }))
			return err
		}},
		{"ticket with newline", func() error {
			_, _, err := c.CreateRequest(ctx, with(func(in *client.RequestInput) { in.TicketNumber = "1\n2" }))
			return err
		}},
		{"access type", func() error {
			_, _, err := c.CreateRequest(ctx, with(func(in *client.RequestInput) { in.AccessType = "Telnet" }))
			return err
		}},
		{"App without application", func() error {
			_, _, err := c.CreateRequest(ctx, with(func(in *client.RequestInput) { in.AccessType = client.AccessApp }))
			return err
		}},
		{"application without App", func() error {
			_, _, err := c.CreateRequest(ctx, with(func(in *client.RequestInput) { in.ApplicationID = ptr(501) }))
			return err
		}},
		{"application ID 0", func() error {
			_, _, err := c.CreateRequest(ctx, with(func(in *client.RequestInput) { in.AccessType, in.ApplicationID = client.AccessApp, ptr(0) }))
			return err
		}},
		{"conflict option", func() error {
			_, _, err := c.CreateRequest(ctx, with(func(in *client.RequestInput) { in.ConflictOption = "replace" }))
			return err
		}},
		{"ticket system 0", func() error {
			_, _, err := c.CreateRequest(ctx, with(func(in *client.RequestInput) { in.TicketSystemID = ptr(0) }))
			return err
		}},
		{"policy schedule -1", func() error {
			_, _, err := c.CreateRequest(ctx, with(func(in *client.RequestInput) { in.AccessPolicyScheduleID = ptr(-1) }))
			return err
		}},
		{"alias ID 0", func() error { _, _, err := c.CreateAliasRequest(ctx, 0, good); return err }},
		{"alias App", func() error {
			_, _, err := c.CreateAliasRequest(ctx, 1, with(func(in *client.RequestInput) { in.AccessType = client.AccessApp }))
			return err
		}},
		{"alias duration", func() error {
			_, _, err := c.CreateAliasRequest(ctx, 1, client.RequestInput{DurationMinutes: -5})
			return err
		}},
		{"checkin ID 0", func() error { return c.Checkin(ctx, 0, "") }},
		{"checkin reason", func() error { return c.Checkin(ctx, 1, long(1001)) }},
		{"approve ID", func() error { return c.Approve(ctx, -3, "") }},
		{"approve reason", func() error { return c.Approve(ctx, 1, long(1001)) }},
		{"deny ID", func() error { return c.Deny(ctx, 0, "") }},
		{"deny reason", func() error { return c.Deny(ctx, 1, long(1001)) }},
		{"rotate ID", func() error { return c.RotateOnCheckin(ctx, 0) }},
		{"credential ID", func() error { _, err := c.Credential(ctx, 0, ""); return err }},
		{"credential type", func() error { _, err := c.Credential(ctx, 1, "certificate"); return err }},
		{"alias credential alias ID", func() error { _, err := c.AliasCredential(ctx, 0, 1, ""); return err }},
		{"alias credential request ID", func() error { _, err := c.AliasCredential(ctx, 1, 0, ""); return err }},
		{"alias credential type", func() error { _, err := c.AliasCredential(ctx, 1, 1, "pin"); return err }},
		{"list status", func() error { _, err := c.ListRequests(ctx, "done", ""); return err }},
		{"list queue", func() error { _, err := c.ListRequests(ctx, "", "mine"); return err }},
		{"managed accounts limit", func() error {
			_, err := c.ManagedAccounts(ctx, client.ManagedAccountsQuery{Limit: -1})
			return err
		}},
		{"managed accounts offset", func() error {
			_, err := c.ManagedAccounts(ctx, client.ManagedAccountsQuery{Offset: -1})
			return err
		}},
		{"managed accounts system ID", func() error {
			_, err := c.ManagedAccounts(ctx, client.ManagedAccountsQuery{SystemID: -1})
			return err
		}},
		{"managed accounts blank name", func() error {
			_, err := c.ManagedAccounts(ctx, client.ManagedAccountsQuery{SystemName: "  "})
			return err
		}},
		{"managed accounts control char", func() error {
			_, err := c.ManagedAccounts(ctx, client.ManagedAccountsQuery{AccountName: "a\x00b"})
			return err
		}},
		{"managed account no system", func() error { _, err := c.ManagedAccount(ctx, "", "root"); return err }},
		{"managed account no account", func() error { _, err := c.ManagedAccount(ctx, "web-01", ""); return err }},
		{"alias ID", func() error { _, err := c.Alias(ctx, 0); return err }},
		{"alias name", func() error { _, err := c.AliasByName(ctx, ""); return err }},
		{"alias name too long", func() error { _, err := c.AliasByName(ctx, long(client.MaxNameLength+1)); return err }},
		{"isa system", func() error { _, err := c.ISARequest(ctx, client.ISARequestInput{AccountID: 11}, ""); return err }},
		{"isa duration", func() error {
			_, err := c.ISARequest(ctx, client.ISARequestInput{SystemID: 1, AccountID: 11, DurationMinutes: 525601}, "")
			return err
		}},
		{"isa type", func() error {
			_, err := c.ISARequest(ctx, client.ISARequestInput{SystemID: 1, AccountID: 11}, "x")
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, client.ErrInvalidInput) {
				t.Fatalf("err = %v, want ErrInvalidInput", err)
			}
			if _, ok := client.AsError(err); ok {
				t.Errorf("an input error must not look like a server answer")
			}
		})
	}
	if calls := s.Inspect().CallCounts(); len(calls) != 0 {
		for ep, n := range calls {
			if n != 0 {
				t.Errorf("invalid input reached the server: %s x%d", ep, n)
			}
		}
	}

	// The limits themselves are fine.
	for _, in := range []client.RequestInput{
		with(func(in *client.RequestInput) { in.DurationMinutes = 1 }),
		with(func(in *client.RequestInput) {
			in.SystemID, in.AccountID, in.DurationMinutes = 100, 1001, 525600
			in.Reason, in.TicketNumber = long(1000), strings.Repeat("9", 20)
		}),
	} {
		if _, _, err := c.CreateRequest(ctx, in); err != nil && errors.Is(err, client.ErrInvalidInput) {
			t.Errorf("valid input refused: %v", err)
		}
	}
	if err := c.Checkin(context.Background(), 1, long(1000)); errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("a 1000-character reason was refused: %v", err)
	}
	_ = pstest.DemoAPIKey
}
