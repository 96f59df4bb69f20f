package backend_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// Fuzz targets for bad user input through the real HandleRequest: role and
// config fields, creds parameters, and path parameters. The rule they check
// is the issue's: a bad input is a 4xx that changes nothing (storage and the
// upstream request list are as before), a good one does only what it says,
// nothing ever panics or answers 500, and no secret comes back or is logged.

// storageSnapshot is every key and value in s.
func storageSnapshot(t testing.TB, s logical.Storage) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := logical.CollectKeys(ctx, s)
	if err != nil {
		t.Fatalf("listing storage: %v", err)
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		e, err := s.Get(ctx, k)
		if err != nil {
			t.Fatalf("reading %s: %v", k, err)
		}
		if e != nil {
			out[k] = string(e.Value)
		}
	}
	return out
}

// changedKeys lists the keys added, removed or changed between two snapshots.
func changedKeys(before, after map[string]string) []string {
	var out []string
	for k, v := range after {
		if old, ok := before[k]; !ok || old != v {
			out = append(out, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// outcome classifies a HandleRequest result the way Vault's HTTP layer
// would answer it: 200 for success, the coded status, 400 for an error
// response, 404/405 for unsupported paths and operations, 500 otherwise.
func outcome(resp *logical.Response, err error) (int, string) {
	switch {
	case err == nil && resp != nil && resp.IsError():
		return http.StatusBadRequest, resp.Error().Error()
	case err == nil:
		return http.StatusOK, ""
	case errors.Is(err, logical.ErrUnsupportedPath):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, logical.ErrUnsupportedOperation):
		return http.StatusMethodNotAllowed, err.Error()
	case errors.Is(err, logical.ErrInvalidRequest), errors.Is(err, logical.ErrPermissionDenied):
		return http.StatusBadRequest, err.Error()
	}
	var coded logical.HTTPCodedError
	if errors.As(err, &coded) {
		return coded.Code(), err.Error()
	}
	return http.StatusInternalServerError, err.Error()
}

// mutatingCalls counts the upstream calls that change something.
func mutatingCalls(s *pstest.Server) map[string]int {
	out := map[string]int{}
	for k, v := range s.Inspect().CallCounts() {
		if strings.HasPrefix(k, "POST Requests") || strings.HasPrefix(k, "POST Aliases") || strings.HasPrefix(k, "PUT ") ||
			strings.HasPrefix(k, "POST ISARequests") {
			out[k] = v
		}
	}
	return out
}

// requestsSnapshot is the simulator's request list without the times that
// move on their own.
func requestsSnapshot(s *pstest.Server) []string {
	var out []string
	for _, r := range s.Inspect().Requests() {
		out = append(out, fmt.Sprintf("%d %s %d/%d %s", r.ID, r.UserName, r.SystemID, r.AccountID, r.Status))
	}
	return out
}

// fuzzHandle runs one request in a fuzz iteration; t may be the fuzz
// function's *testing.T (the env's own t is the *testing.F).
func (te *testEnv) fuzzHandle(op logical.Operation, path string, data map[string]interface{}) (*logical.Response, error) {
	r := te.req(op, path, data)
	resp, err := te.b.HandleRequest(context.Background(), r)
	te.remember(resp)
	return resp, err
}

// fuzzSecretMarkers are put into every secret field the fuzzers write, so a
// secret echoed anywhere is found whatever the fuzzer put around it.
const (
	markAPIKey  = "Qz7mARKapikey"
	markPwd     = "Qz7mARKpassword"
	markSecret  = "Qz7mARKclientsecret"
	markerStart = "Qz7mARK"
)

func FuzzConfigWrite(f *testing.F) {
	type seed struct {
		present                                              uint16
		url, apiKey, runAs, password, clientID, clientSecret string
		timeout, retries, concurrent                         string
		verify                                               bool
	}
	const all = 0x1ff
	for _, s := range []seed{
		{all &^ (1 << 4) &^ (1 << 5), "SIM", "k", "svc-vault", "", "", "", "30s", "3", "16", false},
		{all, "SIM", "k", "svc-vault", "p", "c", "s", "30s", "3", "16", false},
		{0x3f, "SIM", "", "", "", "id", "sec", "", "", "", false},
		{1, "not a url", "", "", "", "", "", "", "", "", false},
		{1, "ftp://host/x", "", "", "", "", "", "", "", "", false},
		{1, "https://user:pw@host", "", "", "", "", "", "", "", "", false},
		{1, "https://host/?q=1#f", "", "", "", "", "", "", "", "", false},
		{1, "http://[::1", "", "", "", "", "", "", "", "", false},
		{1 << 1, "", "key\x00with\nctl", "", "", "", "", "", "", "", false},
		{1 << 2, "", "", "EXAMPLE\\erin", "", "", "", "", "", "", true},
		{1 << 2, "", "", "a;b[c]", "", "", "", "", "", "", false},
		{1 << 2, "", "", "\u202eevil", "", "", "", "", "", "", false},
		{1 << 3, "", "", "", "  spaced  ", "", "", "", "", "", true},
		{1 << 3, "", "", "", "bad]pwd", "", "", "", "", "", true},
		{1 << 6, "", "", "", "", "", "", "-5s", "", "", false},
		{1 << 6, "", "", "", "", "", "", "99999999999999999999h", "", "", false},
		{1 << 6, "", "", "", "", "", "", "1.5", "", "", false},
		{1 << 6, "", "", "", "", "", "", "P1D", "", "", false},
		{1 << 7, "", "", "", "", "", "", "", "11", "", false},
		{1 << 7, "", "", "", "", "", "", "", "0x10", "", false},
		{1 << 8, "", "", "", "", "", "", "", "", "0", false},
		{1 << 8, "", "", "", "", "", "", "", "", "9223372036854775808", false},
		{1 << 0, "SIM/BeyondTrust/api/public/v3/", "", "", "", "", "", "", "", "", true},
	} {
		f.Add(s.present, s.url, s.apiKey, s.runAs, s.password, s.clientID, s.clientSecret, s.timeout, s.retries, s.concurrent, s.verify)
	}

	te := newTestBackend(f)
	ctx := context.Background()
	orig, err := te.s.Get(ctx, "config")
	if err != nil || orig == nil {
		f.Fatalf("no config stored: %v", err)
	}

	f.Fuzz(func(t *testing.T, present uint16, url, apiKey, runAs, password, clientID, clientSecret, timeout, retries, concurrent string, verify bool) {
		data := map[string]interface{}{"verify": verify}
		url = strings.ReplaceAll(url, "SIM", te.srv.URL)
		fields := []struct {
			name string
			v    string
		}{
			{"url", url}, {"api_key", markAPIKey + apiKey}, {"run_as", runAs}, {"password", markPwd + password},
			{"client_id", clientID}, {"client_secret", markSecret + clientSecret},
			{"request_timeout", timeout}, {"max_retries", retries}, {"max_concurrent_requests", concurrent},
		}
		for i, fl := range fields {
			if present&(1<<i) != 0 {
				data[fl.name] = fl.v
			}
		}
		before := storageSnapshot(t, te.s)
		reqsBefore := requestsSnapshot(te.srv)

		resp, err := te.fuzzHandle(logical.UpdateOperation, "config", data)
		status, msg := outcome(resp, err)
		if strings.Contains(msg, markerStart) || (resp != nil && strings.Contains(fmt.Sprint(resp.Data, resp.Warnings), markerStart)) {
			t.Fatalf("config write answered with a secret: %q %v", msg, resp)
		}
		after := storageSnapshot(t, te.s)
		switch {
		case status == http.StatusOK:
			if ch := changedKeys(before, after); len(ch) > 1 || (len(ch) == 1 && ch[0] != "config") {
				t.Fatalf("a config write changed %v", ch)
			}
			// A read never returns a secret.
			r, err := te.fuzzHandle(logical.ReadOperation, "config", nil)
			if err != nil {
				t.Fatalf("config read after a good write: %v", err)
			}
			if r != nil && strings.Contains(fmt.Sprint(r.Data, r.Warnings), markerStart) {
				t.Fatalf("config read returns a secret: %v", r.Data)
			}
		case status >= 400 && status < 500:
			if ch := changedKeys(before, after); len(ch) != 0 {
				t.Fatalf("a refused config write (%d %q) changed storage: %v", status, msg, ch)
			}
		default:
			t.Fatalf("config write answered %d: %q (data %v)", status, msg, data)
		}
		if !reflect.DeepEqual(reqsBefore, requestsSnapshot(te.srv)) {
			t.Fatalf("a config write changed the upstream requests")
		}
		if strings.Contains(te.logs.String(), markerStart) {
			t.Fatalf("a secret reached the log")
		}
		// Put the original config back for the next input.
		if status == http.StatusOK {
			if err := te.s.Put(ctx, orig); err != nil {
				t.Fatal(err)
			}
			te.e.Invalidate(ctx, "config")
		}
	})
}

func FuzzRoleWrite(f *testing.F) {
	// present bits: 0 system_name 1 account_name 2 system_id 3 account_id
	// 4 alias_name 5 alias_id 6 ttl 7 max_ttl 8 reason 9 ticket_number
	// 10 credential_types 11 access_type 12 conflict_option 13 approval_wait
	// 14 application_id 15 rotate_on_checkin
	type seed struct {
		present              uint16
		name, a, b, c, d     string
		ttl, maxTTL          string
		reason, ticket       string
		credTypes, access    string
		conflict, wait, appl string
	}
	for _, s := range []seed{
		{1<<0 | 1<<1, "pg", "db-prod-01", "postgres", "", "", "", "", "", "", "", "", "", "", ""},
		{1<<2 | 1<<3 | 1<<6 | 1<<7, "ids", "", "", "1", "11", "1h", "24h", "", "", "", "", "", "", ""},
		{1 << 4, "al", "", "", "", "", "", "", "", "", "", "", "", "", ""},
		{1<<0 | 1<<1 | 1<<6 | 1<<7, "bad-ttl", "db-prod-01", "postgres", "", "", "-1h", "abc", "", "", "", "", "", "", ""},
		{1<<0 | 1<<1 | 1<<7, "too-long", "db-prod-01", "postgres", "", "", "", "9999999h", "", "", "", "", "", "", ""},
		{1<<2 | 1<<3, "neg", "", "", "-1", "0", "", "", "", "", "", "", "", "", ""},
		{1<<2 | 1<<3, "huge", "", "", "99999999999999999999", "1e3", "", "", "", "", "", "", "", "", ""},
		{1<<0 | 1<<1 | 1<<9, "ticket", "db-prod-01", "postgres", "", "", "", "", "", "123456789012345678901", "", "", "", "", ""},
		{1<<0 | 1<<1 | 1<<8, "reason", "db-prod-01", "postgres", "", "", "", "", "\xff\xfe bad utf8", "", "", "", "", "", ""},
		{1<<0 | 1<<1 | 1<<10, "types", "web-01", "root", "", "", "", "", "", "", "password,dsskey,passphrase,bogus", "", "", "", ""},
		{1<<0 | 1<<1 | 1<<10, "types2", "web-01", "root", "", "", "", "", "", "", ",,,", "", "", "", ""},
		{1<<0 | 1<<1 | 1<<11 | 1<<14, "app", "win-app-01", "svc_app", "", "", "", "", "", "", "", "app", "", "", "501"},
		{1<<4 | 1<<11, "alias-app", "", "", "prod-db-admin", "", "", "", "", "", "", "App", "", "", ""},
		{1<<0 | 1<<1 | 1<<12 | 1<<13, "conf", "db-prod-01", "postgres", "", "", "", "", "", "", "", "", "REUSE", "11m", ""},
		{1<<0 | 1<<1, "names", "db-prod-01/../x", "post\x00gres", "", "", "", "", "", "", "", "", "", "", ""},
		{1<<0 | 1<<1, "uni", "db-prod-01\u200b", "postgres\u202e", "", "", "", "", "", "", "", "", "", "", ""},
		{1<<0 | 1<<1 | 1<<4, "two", "db-prod-01", "postgres", "", "", "x", "", "", "", "", "", "", "", ""},
		{1 << 0, "half", "db-prod-01", "", "", "", "", "", "", "", "", "", "", "", ""},
		{1<<0 | 1<<1 | 1<<15, "rot", "db-prod-01", "postgres", "", "", "", "", "", "", "", "", "", "", "maybe"},
	} {
		f.Add(s.present, s.name, s.a, s.b, s.c, s.d, s.ttl, s.maxTTL, s.reason, s.ticket, s.credTypes, s.access, s.conflict, s.wait, s.appl)
	}

	te := newTestBackend(f)
	f.Fuzz(func(t *testing.T, present uint16, name, a, b, c, d, ttl, maxTTL, reason, ticket, credTypes, access, conflict, wait, appl string) {
		data := map[string]interface{}{}
		fields := []struct {
			name string
			v    string
		}{
			{"system_name", a}, {"account_name", b}, {"system_id", c}, {"account_id", d},
			{"alias_name", a}, {"alias_id", c}, {"ttl", ttl}, {"max_ttl", maxTTL},
			{"reason", reason}, {"ticket_number", ticket}, {"credential_types", credTypes},
			{"access_type", access}, {"conflict_option", conflict}, {"approval_wait", wait},
			{"application_id", appl}, {"rotate_on_checkin", appl},
		}
		for i, fl := range fields {
			if present&(1<<i) != 0 {
				data[fl.name] = fl.v
			}
		}
		before := storageSnapshot(t, te.s)
		reqsBefore := requestsSnapshot(te.srv)
		mutBefore := mutatingCalls(te.srv)

		path := "roles/" + name
		resp, err := te.fuzzHandle(logical.CreateOperation, path, data)
		status, msg := outcome(resp, err)
		after := storageSnapshot(t, te.s)
		ch := changedKeys(before, after)
		switch {
		case status == http.StatusOK:
			if len(ch) != 1 || !strings.HasPrefix(ch[0], "roles/") {
				t.Fatalf("a role write changed %v", ch)
			}
			// Read it back: what was stored must read.
			r, err := te.fuzzHandle(logical.ReadOperation, path, nil)
			if st, m := outcome(r, err); st != http.StatusOK || r == nil {
				t.Fatalf("reading back %s: %d %q", path, st, m)
			}
			if _, err := te.fuzzHandle(logical.DeleteOperation, path, nil); err != nil {
				t.Fatalf("deleting %s: %v", path, err)
			}
			if left := changedKeys(before, storageSnapshot(t, te.s)); len(left) != 0 {
				t.Fatalf("role delete left %v", left)
			}
		case status >= 400 && status < 500:
			if len(ch) != 0 {
				t.Fatalf("a refused role write (%d %q) changed storage: %v", status, msg, ch)
			}
		default:
			t.Fatalf("role write %q %v answered %d: %q", path, data, status, msg)
		}
		if !reflect.DeepEqual(reqsBefore, requestsSnapshot(te.srv)) || !reflect.DeepEqual(mutBefore, mutatingCalls(te.srv)) {
			t.Fatalf("a role write made an upstream change: calls %v -> %v", mutBefore, mutatingCalls(te.srv))
		}
	})
}

// FuzzCredsParams: per-call ttl, reason and ticket_number on creds/<role>. A
// good call checks out (and the test revokes at once); a bad one is a 4xx
// with no request made upstream and no WAL entry or record left.
func FuzzCredsParams(f *testing.F) {
	type seed struct {
		present             uint8
		ttl, reason, ticket string
	}
	for _, s := range []seed{
		{0, "", "", ""},
		{7, "15m", "INC-1234 hotfix", "INC-1234"},
		{1, "-1s", "", ""},
		{1, "99999999999999999999999s", "", ""},
		{1, "1d", "", ""},
		{1, "0", "", ""},
		{2, "", strings.Repeat("r", 1001), ""},
		{2, "", strings.Repeat("é", 600), ""},
		{2, "", "\xff\xfe", ""},
		{2, "", "line\nbreak\x00nul", ""},
		{4, "", "", "123456789012345678901"},
		{4, "", "", "   "},
		{4, "", "", "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"},
		{4, "", "", "a\x00b"},
	} {
		f.Add(s.present, s.ttl, s.reason, s.ticket)
	}
	te := newTestBackend(f)
	te.writeRole("fz", pgRole)
	// The role write's sign-in and lookup are not part of any input.
	f.Fuzz(func(t *testing.T, present uint8, ttl, reason, ticket string) {
		data := map[string]interface{}{}
		for i, kv := range [][2]string{{"ttl", ttl}, {"reason", reason}, {"ticket_number", ticket}} {
			if present&(1<<i) != 0 {
				data[kv[0]] = kv[1]
			}
		}
		before := storageSnapshot(t, te.s)
		reqsBefore := requestsSnapshot(te.srv)
		resp, err := te.fuzzHandle(logical.UpdateOperation, "creds/fz", data)
		status, msg := outcome(resp, err)
		switch {
		case status == http.StatusOK:
			if resp == nil || resp.Secret == nil {
				t.Fatalf("creds answered 200 without a lease: %v", resp)
			}
			if err := te.revoke(resp); err != nil {
				t.Fatalf("revoke: %v", err)
			}
			if id := requestIDOf(resp); te.status(id) != pstest.StatusCheckedIn {
				t.Fatalf("request %d is %s after revoke", id, te.status(id))
			}
			if ch := changedKeys(before, storageSnapshot(t, te.s)); len(ch) != 0 {
				t.Fatalf("a checkout and its revoke left %v in storage", ch)
			}
		case status >= 400 && status < 500:
			if ch := changedKeys(before, storageSnapshot(t, te.s)); len(ch) != 0 {
				t.Fatalf("a refused checkout (%d %q) changed storage: %v", status, msg, ch)
			}
			if !reflect.DeepEqual(reqsBefore, requestsSnapshot(te.srv)) {
				t.Fatalf("a refused checkout (%d %q) changed the upstream requests", status, msg)
			}
		default:
			t.Fatalf("creds write %v answered %d: %q", data, status, msg)
		}
	})
}

// pathFamilies are the parametrised paths; %s is the fuzzed parameter.
var pathFamilies = []string{
	"creds/%s", "roles/%s", "requests/%s", "requests/%s/creds", "requests/%s/approve",
	"requests/%s/deny", "requests/%s/checkin", "requests/%s/rotate-on-checkin", "aliases/%s",
	"accounts/%s", "config/%s", "%s",
}

var pathOps = []logical.Operation{
	logical.ReadOperation, logical.UpdateOperation, logical.CreateOperation, logical.DeleteOperation, logical.ListOperation,
}

// FuzzPathParams: role names, request IDs and alias names with "/", "..",
// unicode and control characters. No role exists and the simulator holds no
// request, so no input may change storage or create anything upstream; each
// answer is a 4xx (or a 200 for a harmless read or list), never a 500.
func FuzzPathParams(f *testing.F) {
	for i, p := range []string{
		"pg", "../config", "..", ".", "/", "a/b", "a//b", "%2e%2e", "%2F", "-1", "0", "007", "1e3", "99999999999999999999",
		"9223372036854775807", "9223372036854775808", "1 ", " 1", "\u0661", "prod-db-admin", "prod-db-admin/..", "fin-sa",
		"\x00", "a\x00b", "\n", "\u202e", "\u00e9", "Σ", "日本", "\xff\xfe", strings.Repeat("a", 5000), "*", "?", "#", "roles/pg",
		"name=x&name=y", "a;b", `EXAMPLE\erin`, "ROLE", "a.b", "a..b", "-a", "a-", "_",
	} {
		f.Add(uint8(i), uint8(i/3), p)
	}
	te := newTestBackend(f)
	f.Fuzz(func(t *testing.T, fam, op uint8, param string) {
		path := strings.Replace(pathFamilies[int(fam)%len(pathFamilies)], "%s", param, 1)
		if path == "config" || path == "config/" {
			return // the config path itself is FuzzConfigWrite's
		}
		operation := pathOps[int(op)%len(pathOps)]
		before := storageSnapshot(t, te.s)
		reqsBefore := requestsSnapshot(te.srv)
		mutBefore := mutatingCalls(te.srv)

		resp, err := te.fuzzHandle(operation, path, nil)
		status, msg := outcome(resp, err)
		if status >= 500 {
			t.Fatalf("%s %q answered %d: %q", operation, path, status, msg)
		}
		if ch := changedKeys(before, storageSnapshot(t, te.s)); len(ch) != 0 {
			t.Fatalf("%s %q (%d %q) changed storage: %v", operation, path, status, msg, ch)
		}
		if !reflect.DeepEqual(reqsBefore, requestsSnapshot(te.srv)) {
			t.Fatalf("%s %q (%d %q) changed the upstream requests", operation, path, status, msg)
		}
		// A PUT for a request ID that does not exist changes nothing, but
		// only a plain number may become an ID in an upstream URL.
		if mut := mutatingCalls(te.srv); !reflect.DeepEqual(mutBefore, mut) && !allDigits(param) {
			t.Fatalf("%s %q sent a mutating call upstream: %v -> %v", operation, path, mutBefore, mut)
		}
	})
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
