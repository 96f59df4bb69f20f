package pstest

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/internal/testlog"
)

// ctl calls the /_pstest/ API.
func ctl(t *testing.T, s *Server, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, s.URL+"/_pstest/"+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestControlAPI(t *testing.T) {
	s := newDemo(t)
	u := signIn(t, s, "alice")
	id := u.mustCreate(1, 11, 30)

	st, b := ctl(t, s, http.MethodGet, "requests", "")
	var reqs []RequestState
	if st != 200 || json.Unmarshal(b, &reqs) != nil || len(reqs) != 1 || reqs[0].ID != id || reqs[0].Status != StatusActive {
		t.Fatalf("GET requests: %d %s", st, b)
	}
	st, b = ctl(t, s, http.MethodGet, "requests/"+itoa(id), "")
	var one RequestState
	if st != 200 || json.Unmarshal(b, &one) != nil || one.ID != id || one.UserName != "alice" {
		t.Fatalf("GET requests/id: %d %s", st, b)
	}
	if st, _ := ctl(t, s, http.MethodGet, "requests/999", ""); st != 404 {
		t.Errorf("unknown request: %d", st)
	}

	st, b = ctl(t, s, http.MethodGet, "accounts/11/password", "")
	var pw struct {
		AccountID int    `json:"account_id"`
		Password  string `json:"password"`
	}
	if st != 200 || json.Unmarshal(b, &pw) != nil || pw.Password != s.Inspect().Password(11) || pw.AccountID != 11 {
		t.Fatalf("password: %d %s", st, b)
	}
	if st, _ := ctl(t, s, http.MethodGet, "accounts/5/password", ""); st != 404 {
		t.Errorf("unknown account: %d", st)
	}

	st, b = ctl(t, s, http.MethodGet, "calls", "")
	var calls map[string]int
	if st != 200 || json.Unmarshal(b, &calls) != nil || calls[EndpointCreateRequest] != 1 || calls[EndpointSignAppin] != 1 {
		t.Fatalf("calls: %d %s", st, b)
	}
	if st, _ := ctl(t, s, http.MethodDelete, "calls", ""); st != 204 || len(s.Inspect().CallCounts()) != 0 {
		t.Fatalf("DELETE calls: %d %v", st, s.Inspect().CallCounts())
	}

	start := s.Now()
	st, b = ctl(t, s, http.MethodGet, "clock", "")
	var clk map[string]string
	if st != 200 || json.Unmarshal(b, &clk) != nil {
		t.Fatalf("clock: %d %s", st, b)
	}
	if got, _ := time.Parse(time.RFC3339Nano, clk["now"]); !got.Equal(start) {
		t.Errorf("clock %s, want %s", clk["now"], start)
	}
	st, b = ctl(t, s, http.MethodPost, "clock/advance", `{"seconds": 1800}`)
	if st != 200 || !s.Now().Equal(start.Add(30*time.Minute)) {
		t.Fatalf("advance: %d %s", st, b)
	}
	if rs := mustState(t, s, id); rs.Status != StatusExpired {
		t.Errorf("advance did not expire the request: %+v", rs)
	}
	if st, _ := ctl(t, s, http.MethodPost, "clock/advance", `{"seconds": -1}`); st != 400 {
		t.Errorf("negative advance: %d", st)
	}
	if st, _ := ctl(t, s, http.MethodPost, "clock/advance", `{"minutes": 1}`); st != 400 {
		t.Errorf("unknown field: %d", st)
	}

	u = signIn(t, s, "alice") // the advance idled the session out
	st, _ = ctl(t, s, http.MethodPost, "faults", `{"endpoint": "GET Requests", "status": 503, "count": 1, "latency_ms": 10}`)
	if st != 204 {
		t.Fatalf("POST faults: %d", st)
	}
	if st, _ := u.do(http.MethodGet, "Requests", nil); st != 503 {
		t.Errorf("fault from the control API: %d", st)
	}
	ctl(t, s, http.MethodPost, "faults", `{"status": 500}`)
	if st, _ := ctl(t, s, http.MethodDelete, "faults", ""); st != 204 {
		t.Errorf("DELETE faults: %d", st)
	}
	if st, _ := u.do(http.MethodGet, "Requests", nil); st != 200 {
		t.Errorf("after DELETE faults: %d", st)
	}
	if st, _ := ctl(t, s, http.MethodPost, "faults", `{"rate": 2}`); st != 400 {
		t.Errorf("bad rate: %d", st)
	}

	if st, _ := ctl(t, s, http.MethodPost, "sessions/expire", ""); st != 204 {
		t.Errorf("sessions/expire: %d", st)
	}
	if st, _ := u.do(http.MethodGet, "Requests", nil); st != 401 {
		t.Errorf("after sessions/expire: %d", st)
	}

	st, b = ctl(t, s, http.MethodGet, "world", "")
	var cr Credentials
	if st != 200 || json.Unmarshal(b, &cr) != nil || cr.APIURL != s.APIURL || len(cr.APIRegistrations) != 3 || cr.APIRegistrations[0].Key != DemoAPIKey || cr.OAuthClients[0].ClientSecret != DemoClientSecret || len(cr.Users) != 7 {
		t.Fatalf("world: %d %s", st, b)
	}

	for _, c := range []struct{ method, path string }{{http.MethodGet, "nope"}, {http.MethodPut, "requests"}, {http.MethodGet, "faults"}} {
		if st, _ := ctl(t, s, c.method, c.path, ""); st != 404 && st != 405 {
			t.Errorf("%s %s: %d", c.method, c.path, st)
		}
	}
	if n := len(s.Inspect().CallCounts()); n == 0 {
		t.Error("API calls were not counted")
	}
	for k := range s.Inspect().CallCounts() {
		if strings.Contains(k, "pstest") {
			t.Errorf("control call counted: %s", k)
		}
	}
}

func TestLogsHoldNoSecrets(t *testing.T) {
	s := newDemo(t)
	var buf testlog.Buffer
	s.SetLogger(slog.New(slog.NewTextHandler(&buf, nil)))

	u := newUser(t, s, "alice")
	st, body := u.signAppin("PS-Auth key=" + DemoAPIKeyWithPassword + "; runas=alice; pwd=[" + DemoPasswordAlice + "];")
	wantStatus(t, "sign in", st, body, 200, "")
	before := s.Inspect().Password(21)
	id := u.mustCreate(2, 21, 10)
	for _, typ := range []string{"password", "dsskey", "passphrase"} {
		u.credential(id, typ)
	}
	u.put("Requests/"+itoa(id)+"/Checkin", nil)
	newUser(t, s, "alice").signAppin("PS-Auth key=" + DemoAPIKey + "; runas=alice; pwd=[wrong-" + DemoPasswordAlice + "];")
	ctl(t, s, http.MethodGet, "accounts/21/password", "")
	ctl(t, s, http.MethodGet, "world", "")
	req, _ := http.NewRequest(http.MethodPost, s.APIURL+"/Auth/connect/token", strings.NewReader("grant_type=client_credentials&client_id="+DemoClientID+"&client_secret="+DemoClientSecret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := s.Client().Do(req); err == nil {
		resp.Body.Close()
	}

	logs := buf.String()
	if strings.Count(logs, "\n") < 8 {
		t.Fatalf("expected a line per call, got:\n%s", logs)
	}
	if !strings.Contains(logs, `endpoint="POST Auth/SignAppin"`) || !strings.Contains(logs, "status=204") {
		t.Errorf("log lines lack endpoint or status:\n%s", logs)
	}
	secrets := map[string]string{
		"API key": DemoAPIKey, "API key with password": DemoAPIKeyWithPassword,
		"user password": DemoPasswordAlice, "old account password": before, "new account password": s.Inspect().Password(21),
		"passphrase": DemoPassphrase21, "DSS key": "PRIVATE KEY", "client secret": DemoClientSecret,
	}
	for what, secret := range secrets {
		if strings.Contains(logs, secret) {
			t.Errorf("logs hold the %s", what)
		}
	}
	for _, c := range u.hc.Jar.Cookies(mustURL(t, s.URL)) {
		if strings.Contains(logs, c.Value) {
			t.Error("logs hold the session cookie")
		}
	}
}

func TestRealClock(t *testing.T) {
	s := newDemo(t)
	fake := s.Now()
	time.Sleep(20 * time.Millisecond)
	if !s.Now().Equal(fake) {
		t.Fatal("the fake clock moved by itself")
	}
	s.Advance(time.Hour)
	s.UseRealClock()
	n1 := s.Now()
	if n1.Before(fake.Add(time.Hour)) {
		t.Fatalf("UseRealClock went back: %v < %v", n1, fake.Add(time.Hour))
	}
	time.Sleep(20 * time.Millisecond)
	n2 := s.Now()
	if !n2.After(n1) {
		t.Fatal("the real clock does not move")
	}
	s.Advance(time.Minute)
	if s.Now().Sub(n2) < time.Minute {
		t.Fatal("Advance does not add to the real clock")
	}
}
