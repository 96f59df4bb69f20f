package pstest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// psUser is a signed-in user talking plain net/http to the simulator, the
// way any client following the documentation would.
type psUser struct {
	t    testing.TB
	s    *Server
	name string
	hc   *http.Client
}

// newUser returns a client with its own cookie jar, not signed in.
func newUser(t testing.TB, s *Server, name string) *psUser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := *s.Client() // a copy: Client is shared; the copy shares its transport
	hc.Jar = jar
	return &psUser{t: t, s: s, name: name, hc: &hc}
}

// signIn signs name in with DemoAPIKey (no password needed) and fails the
// test unless it works.
func signIn(t *testing.T, s *Server, name string) *psUser {
	t.Helper()
	u := newUser(t, s, name)
	status, body := u.signAppin("PS-Auth key=" + DemoAPIKey + "; runas=" + name + ";")
	if status != http.StatusOK {
		t.Fatalf("SignAppin %s: %d %s", name, status, body)
	}
	return u
}

func (u *psUser) signAppin(authorization string) (int, string) {
	u.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u.s.APIURL+"/Auth/SignAppin", nil)
	if err != nil {
		u.t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := u.hc.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// do sends one API call (path relative to the API root). A non-nil body is
// sent as JSON unless it is already a string.
func (u *psUser) do(method, path string, body any) (int, string) {
	u.t.Helper()
	resp := u.raw(method, path, body, "application/json")
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (u *psUser) raw(method, path string, body any, contentType string) *http.Response {
	u.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			u.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, u.s.APIURL+"/"+strings.TrimPrefix(path, "/"), rd)
	if err != nil {
		u.t.Fatal(err)
	}
	if rd != nil && contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := u.hc.Do(req)
	if err != nil {
		u.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// create posts a request and returns (status, id or 0, body).
func (u *psUser) create(in map[string]any) (int, int, string) {
	u.t.Helper()
	status, body := u.do(http.MethodPost, "Requests", in)
	id, _ := strconv.Atoi(body)
	return status, id, body
}

// mustCreate posts a request and wants 201.
func (u *psUser) mustCreate(systemID, accountID, minutes int, extra ...any) int {
	u.t.Helper()
	in := map[string]any{"SystemID": systemID, "AccountID": accountID, "DurationMinutes": minutes}
	for i := 0; i+1 < len(extra); i += 2 {
		in[extra[i].(string)] = extra[i+1]
	}
	status, id, body := u.create(in)
	if status != http.StatusCreated || id == 0 {
		u.t.Fatalf("%s: POST Requests %v: %d %s", u.name, in, status, body)
	}
	return id
}

// credential reads GET Credentials/{id}?type= and decodes the JSON string.
func (u *psUser) credential(id int, typ string) (int, string) {
	u.t.Helper()
	path := "Credentials/" + strconv.Itoa(id)
	if typ != "" {
		path += "?type=" + typ
	}
	status, body := u.do(http.MethodGet, path, nil)
	if status == http.StatusOK {
		var v string
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			u.t.Fatalf("credential body %q is not a JSON string: %v", body, err)
		}
		return status, v
	}
	return status, body
}

func (u *psUser) put(path string, body any) (int, string) {
	u.t.Helper()
	return u.do(http.MethodPut, path, body)
}

// wantStatus fails unless got == want and, when sub != "", the body holds sub.
func wantStatus(t *testing.T, what string, got int, body string, want int, sub string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: status %d, want %d (body %s)", what, got, want, body)
	}
	if sub != "" && !strings.Contains(body, sub) {
		t.Fatalf("%s: body %s does not contain %q", what, body, sub)
	}
}

func mustState(t *testing.T, s *Server, id int) RequestState {
	t.Helper()
	rs, ok := s.Inspect().Request(id)
	if !ok {
		t.Fatalf("request %d unknown", id)
	}
	return rs
}

func newDemo(t *testing.T) *Server {
	t.Helper()
	s := NewServer(DemoWorld())
	t.Cleanup(s.Close)
	return s
}

func itoa(i int) string { return strconv.Itoa(i) }

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
