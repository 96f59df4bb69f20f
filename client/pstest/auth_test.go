package pstest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSignAppin(t *testing.T) {
	s := newDemo(t)
	cases := []struct {
		name   string
		header string
		want   int
		user   string
	}{
		{"spaces", "PS-Auth key=" + DemoAPIKey + "; runas=svc-vault;", 200, "svc-vault"},
		{"no spaces", "PS-Auth key=" + DemoAPIKey + ";runas=svc-vault;", 200, "svc-vault"},
		{"no trailing semicolon", "PS-Auth key=" + DemoAPIKey + "; runas=svc-vault", 200, "svc-vault"},
		{"scheme case", "ps-auth key=" + DemoAPIKey + "; runas=svc-vault;", 200, "svc-vault"},
		{"runas case-insensitive", "PS-Auth key=" + DemoAPIKey + "; runas=ALICE;", 200, "alice"},
		{"domain user", "PS-Auth key=" + DemoAPIKey + `; runas=EXAMPLE\erin;`, 200, `EXAMPLE\erin`},
		{"pwd ignored when not required", "PS-Auth key=" + DemoAPIKey + "; runas=alice; pwd=[nonsense];", 200, "alice"},
		{"wrong key", "PS-Auth key=" + strings.Repeat("0", 128) + "; runas=svc-vault;", 401, ""},
		{"unknown runas", "PS-Auth key=" + DemoAPIKey + "; runas=mallory;", 401, ""},
		{"no runas", "PS-Auth key=" + DemoAPIKey + ";", 401, ""},
		{"no header", "", 401, ""},
		{"basic scheme", "Basic YWxpY2U6cHc=", 401, ""},
		{"password registration, no pwd", "PS-Auth key=" + DemoAPIKeyWithPassword + "; runas=alice;", 401, ""},
		{"password registration, wrong pwd", "PS-Auth key=" + DemoAPIKeyWithPassword + "; runas=alice; pwd=[wrong];", 401, ""},
		{"password registration, right pwd", "PS-Auth key=" + DemoAPIKeyWithPassword + "; runas=alice; pwd=[" + DemoPasswordAlice + "];", 200, "alice"},
		{"password registration, no spaces", "PS-Auth key=" + DemoAPIKeyWithPassword + ";runas=bob;pwd=[" + DemoPasswordBob + "];", 200, "bob"},
		{"password registration, domain user", "PS-Auth key=" + DemoAPIKeyWithPassword + `; runas=EXAMPLE\erin; pwd=[` + DemoPasswordErin + "];", 200, `EXAMPLE\erin`},
		{"bogus bearer", "Bearer nope", 401, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := newUser(t, s, tc.user)
			status, body := u.signAppin(tc.header)
			wantStatus(t, "SignAppin", status, body, tc.want, "")
			if tc.want != 200 {
				return
			}
			var out map[string]any
			if err := json.Unmarshal([]byte(body), &out); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"UserId", "SID", "EmailAddress", "UserName", "Name"} {
				if _, ok := out[k]; !ok {
					t.Errorf("SignAppin body lacks %s: %s", k, body)
				}
			}
			if out["UserName"] != tc.user {
				t.Errorf("UserName = %v, want %s", out["UserName"], tc.user)
			}
			// The session works for a later call that sends only the cookie.
			st, b := u.do(http.MethodGet, "Requests", nil)
			wantStatus(t, "GET Requests after sign-in", st, b, 200, "")
		})
	}
}

func TestSignAppinCookie(t *testing.T) {
	s := newDemo(t)
	req, _ := http.NewRequest(http.MethodPost, s.APIURL+"/Auth/SignAppin", nil)
	req.Header.Set("Authorization", "PS-Auth key="+DemoAPIKey+"; runas=svc-vault;")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookieName {
			ck = c
		}
	}
	if ck == nil || ck.Value == "" || !ck.HttpOnly || ck.Path != "/" {
		t.Fatalf("session cookie = %+v, want ASP.NET_SessionId, HttpOnly, Path=/", ck)
	}
	// Without the cookie, calls answer 401.
	u := newUser(t, s, "nobody")
	st, body := u.do(http.MethodGet, "Requests", nil)
	wantStatus(t, "no cookie", st, body, 401, "")
}

func TestOAuth(t *testing.T) {
	s := newDemo(t)
	token := func(form url.Values, basic bool) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.APIURL+"/Auth/connect/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			req.SetBasicAuth(DemoClientID, DemoClientSecret)
		}
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &out)
		return resp.StatusCode, out
	}
	good := url.Values{"grant_type": {"client_credentials"}, "client_id": {DemoClientID}, "client_secret": {DemoClientSecret}}
	status, out := token(good, false)
	if status != 200 || out["token_type"] != "Bearer" || out["scope"] != "publicapi" || out["expires_in"] != float64(3600) || out["access_token"] == "" {
		t.Fatalf("token: %d %v", status, out)
	}
	tok := out["access_token"].(string)

	u := newUser(t, s, "svc-vault")
	st, body := u.signAppin("Bearer " + tok)
	wantStatus(t, "SignAppin bearer", st, body, 200, `"UserName":"svc-vault"`)

	if status, _ := token(url.Values{"grant_type": {"client_credentials"}}, true); status != 200 {
		t.Errorf("basic-auth client credentials: %d", status)
	}
	bad := url.Values{"grant_type": {"client_credentials"}, "client_id": {DemoClientID}, "client_secret": {"wrong"}}
	if status, out := token(bad, false); status != 401 || out["error"] != "invalid_client" {
		t.Errorf("bad secret: %d %v", status, out)
	}
	unknown := url.Values{"grant_type": {"client_credentials"}, "client_id": {"nope"}, "client_secret": {DemoClientSecret}}
	if status, out := token(unknown, false); status != 401 || out["error"] != "invalid_client" {
		t.Errorf("unknown client: %d %v", status, out)
	}
	grant := url.Values{"grant_type": {"password"}, "client_id": {DemoClientID}, "client_secret": {DemoClientSecret}}
	if status, out := token(grant, false); status != 400 || out["error"] != "unsupported_grant_type" {
		t.Errorf("bad grant: %d %v", status, out)
	}

	// ExpireSessions leaves tokens alone; ExpireTokens does not.
	s.Edit().ExpireSessions()
	st, body = newUser(t, s, "svc-vault").signAppin("Bearer " + tok)
	wantStatus(t, "bearer after ExpireSessions", st, body, 200, "")
	_, out = token(good, false)
	tok2 := out["access_token"].(string)
	s.Edit().ExpireTokens()
	st, body = newUser(t, s, "svc-vault").signAppin("Bearer " + tok2)
	wantStatus(t, "bearer after ExpireTokens", st, body, 401, "")

	// A token lives an hour on the simulator's clock.
	_, out = token(good, false)
	tok3 := out["access_token"].(string)
	s.Advance(59 * time.Minute)
	st, body = newUser(t, s, "svc-vault").signAppin("Bearer " + tok3)
	wantStatus(t, "bearer at 59 minutes", st, body, 200, "")
	s.Advance(time.Minute)
	st, body = newUser(t, s, "svc-vault").signAppin("Bearer " + tok3)
	wantStatus(t, "expired bearer", st, body, 401, "")
}

func TestSessionLifetime(t *testing.T) {
	s := newDemo(t)
	u := signIn(t, s, "alice")
	get := func() int { st, _ := u.do(http.MethodGet, "Requests", nil); return st }

	s.Advance(19 * time.Minute)
	if st := get(); st != 200 {
		t.Fatalf("after 19 idle minutes: %d", st)
	}
	s.Advance(19 * time.Minute) // the last call reset the idle timer
	if st := get(); st != 200 {
		t.Fatalf("after 19 more idle minutes: %d", st)
	}
	s.Advance(20 * time.Minute)
	if st := get(); st != 401 {
		t.Fatalf("after 20 idle minutes: %d, want 401", st)
	}

	u = signIn(t, s, "alice")
	if n := s.Inspect().Sessions(); n != 1 {
		t.Errorf("Sessions() = %d, want 1", n)
	}
	s.Edit().ExpireSessions()
	if st := get(); st != 401 {
		t.Fatalf("after ExpireSessions: %d, want 401", st)
	}

	u = signIn(t, s, "alice")
	st, body := u.do(http.MethodPost, "Auth/Signout", nil)
	wantStatus(t, "Signout", st, body, 200, "")
	if st := get(); st != 401 {
		t.Fatalf("after Signout: %d, want 401", st)
	}
	st, body = u.do(http.MethodPost, "Auth/Signout", nil)
	wantStatus(t, "second Signout", st, body, 200, "")

	s.Edit().SetSessionIdle(time.Minute)
	u = signIn(t, s, "alice")
	s.Advance(time.Minute)
	if st := get(); st != 401 {
		t.Fatalf("custom idle: %d, want 401", st)
	}
}

func TestLicenseAndAPIDisabled(t *testing.T) {
	s := newDemo(t)
	u := signIn(t, s, "alice")

	s.Edit().SetLicenseInvalid(true)
	st, body := newUser(t, s, "alice").signAppin("PS-Auth key=" + DemoAPIKey + "; runas=alice;")
	wantStatus(t, "SignAppin, invalid license", st, body, 403, "")
	s.Edit().SetLicenseInvalid(false)

	s.Edit().SetAPIDisabled(true)
	for _, c := range []struct{ method, path string }{
		{http.MethodPost, "Auth/SignAppin"},
		{http.MethodGet, "Requests"},
		{http.MethodGet, "ManagedAccounts"},
		{http.MethodPut, "Requests/1001/Checkin"},
		{http.MethodPost, "Auth/connect/token"},
	} {
		st, body := u.do(c.method, c.path, nil)
		wantStatus(t, c.method+" "+c.path+" with API disabled", st, body, 410, "")
	}
	s.Edit().SetAPIDisabled(false)
	st, body = u.do(http.MethodGet, "Requests", nil)
	wantStatus(t, "API enabled again", st, body, 200, "")

	w := DemoWorld()
	w.APIDisabled = true
	s2 := NewServer(w)
	defer s2.Close()
	st, body = newUser(t, s2, "alice").signAppin("PS-Auth key=" + DemoAPIKey + "; runas=alice;")
	wantStatus(t, "world APIDisabled", st, body, 410, "")
}

func TestPaths(t *testing.T) {
	s := newDemo(t)
	for _, p := range []string{"Auth/SignAppin", "Auth/SignAppIn", "auth/signappin", "AUTH/SIGNAPPIN"} {
		u := newUser(t, s, "alice")
		req, _ := http.NewRequest(http.MethodPost, s.APIURL+"/"+p, nil)
		req.Header.Set("Authorization", "PS-Auth key="+DemoAPIKey+"; runas=alice;")
		resp, err := u.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("POST %s: %d", p, resp.StatusCode)
		}
	}
	if n := s.Inspect().Calls(EndpointSignAppin); n != 4 {
		t.Errorf("Calls(SignAppin) = %d, want 4 (one canonical name for every spelling)", n)
	}

	u := signIn(t, s, "alice")
	for _, p := range []string{"checkin", "Checkin", "CHECKIN"} {
		id := u.mustCreate(1, 11, 10)
		st, body := u.put("requests/"+itoa(id)+"/"+p, nil)
		wantStatus(t, "PUT "+p, st, body, 204, "")
	}
	id := u.mustCreate(1, 11, 10)
	st, body := u.put("Requests/Release/"+itoa(id), map[string]string{"Reason": "deprecated path"})
	wantStatus(t, "PUT Requests/Release/{id}", st, body, 204, "")
	if got := s.Inspect().Calls(EndpointCheckin); got != 4 {
		t.Errorf("Calls(Checkin) = %d, want 4", got)
	}

	// The legacy base path.
	legacy := strings.Replace(s.APIURL, APIBasePath, LegacyAPIBasePath, 1)
	req, _ := http.NewRequest(http.MethodGet, legacy+"/ManagedAccounts?systemName=db-prod-01&accountName=postgres", nil)
	resp, err := u.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("legacy base path: %d", resp.StatusCode)
	}

	for _, c := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "Nope", 404},
		{http.MethodGet, "Requests/abc/Checkin", 404},
		{http.MethodGet, "", 404},
		{http.MethodGet, "Auth/SignAppin", 405},
		{http.MethodDelete, "Requests", 405},
	} {
		st, body := u.do(c.method, c.path, nil)
		wantStatus(t, c.method+" "+c.path, st, body, c.want, "")
	}
	resp, err = s.Client().Get(s.URL + "/something/else")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("outside the base path: %d", resp.StatusCode)
	}
}

func FuzzParsePSAuth(f *testing.F) {
	f.Add("key", "svc-vault", "pw", true)
	f.Add(DemoAPIKey, `EXAMPLE\erin`, "p;w]x[", true)
	f.Add("k", "u", "", false)
	f.Fuzz(func(t *testing.T, key, runas, pwd string, withPwd bool) {
		if key == "" || strings.TrimSpace(key) != key || strings.TrimSpace(runas) != runas || strings.ContainsAny(key+runas, ";=[]") || strings.Contains(strings.ToLower(key+runas), "pwd") || strings.Contains(pwd, "\n") {
			t.Skip()
		}
		h := "key=" + key + "; runas=" + runas + ";"
		if withPwd {
			h += " pwd=[" + pwd + "];"
		}
		a, ok := parsePSAuth(h)
		if !ok || a.key != key || a.runas != runas || a.hasPwd != withPwd || (withPwd && a.pwd != pwd) {
			t.Fatalf("parsePSAuth(%q) = %+v, %v", h, a, ok)
		}
		parsePSAuth(pwd) // arbitrary input must not panic
	})
}
