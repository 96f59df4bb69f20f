package pstest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// The answers and tolerances recorded in doc.go's "Checked against
// BeyondTrust's reference".

func TestRequestBodyTolerance(t *testing.T) {
	cases := []struct {
		name, ct, body string
		rotate         bool
	}{
		{"JSON", "application/json", `{"SystemID":1,"AccountID":11,"DurationMinutes":5}`, true},
		{"numbers as strings", "application/json", `{"SystemID":"1","AccountID":" 11 ","DurationMinutes":"5","RotateOnCheckin":"false"}`, false},
		{"text/json", "text/json; charset=utf-8", `{"SystemID":1,"AccountID":11,"DurationMinutes":5}`, true},
		{"application/*+json", "application/json-patch+json", `{"SystemID":1,"AccountID":11,"DurationMinutes":5}`, true},
		{"form", "application/x-www-form-urlencoded", "SystemID=1&AccountID=11&DurationMinutes=5&Reason=form+body&RotateOnCheckin=False", false},
		{"form, lowercase names", "application/x-www-form-urlencoded; charset=utf-8", "systemid=1&accountid=11&durationminutes=5", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer(DemoWorld())
			defer s.Close()
			alice := signIn(t, s, "alice")
			resp := alice.raw(http.MethodPost, "Requests", tc.body, tc.ct)
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("status %d, want 201", resp.StatusCode)
			}
			reqs := s.Inspect().Requests()
			if len(reqs) != 1 || reqs[0].AccountID != 11 || reqs[0].RotateOnCheckin != tc.rotate {
				t.Fatalf("requests %+v", reqs)
			}
			if tc.name == "form" && reqs[0].Reason != "form body" {
				t.Errorf("Reason %q", reqs[0].Reason)
			}
		})
	}
	t.Run("still rejected", func(t *testing.T) {
		s := NewServer(DemoWorld())
		defer s.Close()
		alice := signIn(t, s, "alice")
		for _, tc := range []struct{ ct, body, sub string }{
			{"application/json", `{"SystemID":"one","AccountID":11,"DurationMinutes":5}`, "SystemID"},
			{"application/x-www-form-urlencoded", "SystemID=1&AccountID=11&DurationMinutes=0", "DurationMinutes"},
			{"application/x-www-form-urlencoded", "SystemID=1&AccountID=11&DurationMinutes=%zz", ""},
		} {
			resp := alice.raw(http.MethodPost, "Requests", tc.body, tc.ct)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s %q: %d, want 400", tc.ct, tc.body, resp.StatusCode)
			}
		}
		if n := len(s.Inspect().Requests()); n != 0 {
			t.Fatalf("%d requests created", n)
		}
	})
	t.Run("checkin reason as form", func(t *testing.T) {
		s := NewServer(DemoWorld())
		defer s.Close()
		alice := signIn(t, s, "alice")
		id := alice.mustCreate(1, 11, 5)
		resp := alice.raw(http.MethodPut, "Requests/"+strconv.Itoa(id)+"/Checkin", "Reason=done", "application/x-www-form-urlencoded")
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("status %d, want 204", resp.StatusCode)
		}
	})
}

func TestStatusWords(t *testing.T) {
	for _, tc := range []struct{ pending, active, wantPending, wantActive string }{
		{"", "", "pending", "active"},
		{"Pending", "Active", "Pending", "Active"},
		{"Pending Approval", "Approved", "Pending Approval", "Approved"},
	} {
		t.Run(tc.wantPending, func(t *testing.T) {
			s := NewServer(DemoWorld())
			defer s.Close()
			s.Edit().SetStatusWords(tc.pending, tc.active)
			alice := signIn(t, s, "alice")
			alice.mustCreate(1, 11, 5)  // auto-approved
			alice.mustCreate(3, 31, 60) // needs an approver
			for _, filter := range []string{"all", "Pending", "ACTIVE"} {
				st, body := alice.do(http.MethodGet, "Requests?status="+filter, nil)
				if st != http.StatusOK {
					t.Fatalf("status=%s: %d %s", filter, st, body)
				}
				var list []struct {
					AccountID int
					Status    string
				}
				if err := json.Unmarshal([]byte(body), &list); err != nil {
					t.Fatal(err)
				}
				for _, r := range list {
					want := map[int]string{11: tc.wantActive, 31: tc.wantPending}[r.AccountID]
					if r.Status != want {
						t.Errorf("status=%s: account %d Status %q, want %q", filter, r.AccountID, r.Status, want)
					}
				}
				if wantN := map[string]int{"all": 2, "Pending": 1, "ACTIVE": 1}[filter]; len(list) != wantN {
					t.Errorf("status=%s: %d requests, want %d", filter, len(list), wantN)
				}
			}
		})
	}
}

func TestErrorBodies(t *testing.T) {
	for _, tc := range []struct {
		style      ErrorBodies
		want403    string
		want409    string
		want404Has string
	}{
		{ErrorBodiesText, `"4034 - Request is not yet approved"`, `"4091 - Conflicting request exists.`, `"Request not found`},
		{ErrorBodiesCode, `4034`, `4091`, `"Request not found`},
		{ErrorBodiesWords, `"Request is not yet approved"`, `"Conflicting request exists.`, `"Request not found`},
		{ErrorBodiesObject, `{"Message":"4034 - Request is not yet approved"}`, `{"Message":"4091 - Conflicting request exists.`, `{"Message":"Request not found`},
	} {
		t.Run(strconv.Itoa(int(tc.style)), func(t *testing.T) {
			s := NewServer(DemoWorld())
			defer s.Close()
			s.Edit().SetErrorBodies(tc.style)
			alice := signIn(t, s, "alice")
			id := alice.mustCreate(3, 31, 60) // pending
			st, body := alice.do(http.MethodGet, "Credentials/"+strconv.Itoa(id), nil)
			if st != http.StatusForbidden || body != tc.want403 {
				t.Errorf("403: %d %s, want %s", st, body, tc.want403)
			}
			st, body = alice.do(http.MethodPost, "Requests", map[string]any{"SystemID": 3, "AccountID": 31, "DurationMinutes": 60})
			if st != http.StatusConflict || !strings.HasPrefix(body, tc.want409) {
				t.Errorf("409: %d %s, want %s…", st, body, tc.want409)
			}
			st, body = alice.do(http.MethodGet, "Credentials/999999", nil)
			if st != http.StatusNotFound || !strings.HasPrefix(body, tc.want404Has) {
				t.Errorf("404: %d %s, want %s…", st, body, tc.want404Has)
			}
			if !json.Valid([]byte(body)) {
				t.Errorf("not JSON: %s", body)
			}
		})
	}
}
