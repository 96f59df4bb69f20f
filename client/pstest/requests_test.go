package pstest

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestCreateRequestValidation(t *testing.T) {
	s := newDemo(t)
	s.Edit().SetAccountAPIEnabled(22, false)
	alice := signIn(t, s, "alice")
	bob := signIn(t, s, "bob")
	isa := signIn(t, s, DemoUserISA)
	base := func(kv ...any) map[string]any {
		m := map[string]any{"SystemID": 1, "AccountID": 11, "DurationMinutes": 10}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
				continue
			}
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name string
		user *psUser
		body any
		want int
		sub  string
	}{
		{"missing duration", alice, base("DurationMinutes", nil), 400, "DurationMinutes"},
		{"zero duration", alice, base("DurationMinutes", 0), 400, "DurationMinutes"},
		{"duration above 525600", alice, base("DurationMinutes", 525601), 400, "DurationMinutes"},
		{"duration above account max", alice, base("SystemID", 3, "AccountID", 31, "DurationMinutes", 481), 400, "maximum release duration of 480"},
		{"reason 1001", alice, base("Reason", strings.Repeat("r", 1001)), 400, "Reason"},
		{"ticket 21", alice, base("TicketNumber", strings.Repeat("1", 21)), 400, "TicketNumber"},
		{"bad access type", alice, base("AccessType", "Telnet"), 400, "AccessType"},
		{"app without application", alice, base("SystemID", 4, "AccountID", 41, "AccessType", "App"), 400, "ApplicationID"},
		{"app with wrong application", alice, base("SystemID", 4, "AccountID", 41, "AccessType", "App", "ApplicationID", 999), 400, "ApplicationID"},
		{"app on account without application", alice, base("AccessType", "App", "ApplicationID", 501), 400, "ApplicationID"},
		{"bad conflict option", alice, base("ConflictOption", "steal"), 400, "ConflictOption"},
		{"missing system", alice, base("SystemID", nil), 400, "SystemID"},
		{"malformed JSON", alice, "{", 400, ""},
		{"wrong type", alice, `{"SystemID":"one","AccountID":11,"DurationMinutes":5}`, 400, "SystemID"},
		{"empty body", alice, "", 400, ""},
		{"unknown system", alice, base("SystemID", 99), 403, "4031"},
		{"unknown account", alice, base("AccountID", 99), 403, "4031"},
		{"account of another system", alice, base("AccountID", 21), 403, "4031"},
		{"api-disabled account", alice, base("SystemID", 2, "AccountID", 22), 403, "4031"},
		{"approver-only user", bob, base(), 403, "4033"},
		{"ISA-only user", isa, base(), 403, "4031"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, body := tc.user.do(http.MethodPost, "Requests", tc.body)
			wantStatus(t, tc.name, st, body, tc.want, tc.sub)
			if !json.Valid([]byte(body)) {
				t.Errorf("error body is not JSON: %s", body)
			}
		})
	}
	if n := len(s.Inspect().Requests()); n != 0 {
		t.Fatalf("rejected requests created %d requests", n)
	}

	t.Run("415", func(t *testing.T) {
		for _, ct := range []string{"text/plain", "application/xml", "multipart/form-data", ""} {
			resp := alice.raw(http.MethodPost, "Requests", `{"SystemID":1,"AccountID":11,"DurationMinutes":5}`, ct)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnsupportedMediaType {
				t.Errorf("Content-Type %q: %d, want 415", ct, resp.StatusCode)
			}
		}
		resp := alice.raw(http.MethodPost, "Requests", `{"SystemID":1,"AccountID":11,"DurationMinutes":5}`, "application/json; charset=utf-8")
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Errorf("application/json; charset=utf-8: %d, want 201", resp.StatusCode)
		}
	})

	t.Run("4035 not enough approvers", func(t *testing.T) {
		s.Edit().SetAccountPolicy(31, Policy{Approvers: []string{"bob", "dave"}, RequiredApprovals: 3})
		st, body := alice.do(http.MethodPost, "Requests", base("SystemID", 3, "AccountID", 31))
		wantStatus(t, "3 approvals, 2 approvers", st, body, 403, "4035")
		// dave cannot approve his own request, so 2 required is too many for him.
		s.Edit().SetAccountPolicy(31, Policy{Approvers: []string{"bob", "dave"}, RequiredApprovals: 2})
		dave := signIn(t, s, "dave")
		st, body = dave.do(http.MethodPost, "Requests", base("SystemID", 3, "AccountID", 31))
		wantStatus(t, "2 approvals, requestor is one of the 2 approvers", st, body, 403, "4035")
	})

	t.Run("requestor not in policy", func(t *testing.T) {
		s.Edit().SetAccountPolicy(11, Policy{Requestors: []string{"carol"}})
		st, body := alice.do(http.MethodPost, "Requests", base())
		wantStatus(t, "alice not a requestor of 11", st, body, 403, "4031")
	})
}

func TestAutoApproveLifecycle(t *testing.T) {
	s := newDemo(t)
	u := signIn(t, s, "svc-vault")
	start := s.Now()
	before := s.Inspect().Password(11)

	resp := u.raw(http.MethodPost, "Requests", map[string]any{"SystemID": 1, "AccountID": 11, "DurationMinutes": 30, "Reason": "deploy", "TicketNumber": "CHG-1", "TicketSystemID": 2}, "application/json")
	var raw [64]byte
	n, _ := resp.Body.Read(raw[:])
	resp.Body.Close()
	if resp.StatusCode != 201 || !regexp.MustCompile(`^[0-9]+$`).Match(raw[:n]) {
		t.Fatalf("POST Requests: %d %q, want 201 and a bare integer without newline", resp.StatusCode, raw[:n])
	}
	id := u.mustCreate(1, 12, 5) - 1 // the first request's ID (IDs are sequential)
	rs := mustState(t, s, id)
	if rs.Status != StatusActive || rs.ApprovedAt == nil || !rs.ApprovedAt.Equal(start) || !rs.ExpiresAt.Equal(start.Add(30*time.Minute)) {
		t.Fatalf("auto-approved request: %+v", rs)
	}
	if rs.UserName != "svc-vault" || rs.Reason != "deploy" || rs.TicketNumber != "CHG-1" || rs.TicketSystemID != 2 || !rs.RotateOnCheckin || rs.AccessType != "View" {
		t.Fatalf("request fields: %+v", rs)
	}

	resp = u.raw(http.MethodGet, "Credentials/"+itoa(id), nil, "")
	n, _ = resp.Body.Read(raw[:])
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("credential Content-Type %q", ct)
	}
	if want, _ := json.Marshal(before); string(raw[:n]) != string(want) {
		t.Fatalf("credential body %q, want %s", raw[:n], want)
	}

	s.Advance(29 * time.Minute)
	u = signIn(t, s, "svc-vault") // the session idled out; the request belongs to the user
	if st, _ := u.credential(id, ""); st != 200 {
		t.Fatalf("credential before expiry: %d", st)
	}
	if s.Inspect().Password(11) != before {
		t.Fatal("password changed before expiry")
	}
	s.Advance(time.Minute)
	rs = mustState(t, s, id)
	if rs.Status != StatusExpired || rs.EndedAt == nil || !rs.EndedAt.Equal(start.Add(30*time.Minute)) {
		t.Fatalf("after expiry: %+v", rs)
	}
	if s.Inspect().Password(11) == before {
		t.Fatal("password did not rotate at expiry")
	}
	if st, body := u.credential(id, ""); st != 404 {
		t.Fatalf("credential after expiry: %d %s, want 404", st, body)
	}
	st, body := u.put("Requests/"+itoa(id)+"/Checkin", nil)
	wantStatus(t, "checkin after expiry", st, body, 404, "")
	if len(s.Inspect().ActiveRequests()) != 0 {
		t.Fatalf("active requests left: %+v", s.Inspect().ActiveRequests())
	}
}

func TestApprovals(t *testing.T) {
	s := newDemo(t)
	alice := signIn(t, s, "alice")
	bob := signIn(t, s, "bob")
	dave := signIn(t, s, "dave")
	carol := signIn(t, s, "carol")

	id := alice.mustCreate(3, 31, 60)
	if rs := mustState(t, s, id); rs.Status != StatusPending || rs.ApprovedAt != nil {
		t.Fatalf("new request on 31: %+v", rs)
	}
	st, body := alice.credential(id, "")
	wantStatus(t, "credential while pending", st, body, 403, "4034")
	st, body = alice.put("Requests/"+itoa(id)+"/Checkin", nil)
	wantStatus(t, "checkin while pending", st, body, 403, "4034")
	st, body = carol.put("Requests/"+itoa(id)+"/Approve", nil)
	wantStatus(t, "pure requestor approves", st, body, 403, "4032")
	st, body = alice.put("Requests/"+itoa(id)+"/Approve", nil)
	wantStatus(t, "requestor approves own", st, body, 403, "4032")
	st, body = bob.put("Requests/99999/Approve", nil)
	wantStatus(t, "approve unknown", st, body, 404, "")

	s.Advance(10 * time.Minute)
	approvedAt := s.Now()
	st, body = bob.put("Requests/"+itoa(id)+"/Approve", map[string]string{"Reason": "ok"})
	wantStatus(t, "bob approves", st, body, 204, "")
	rs := mustState(t, s, id)
	if rs.Status != StatusActive || rs.ApprovedAt == nil || !rs.ApprovedAt.Equal(approvedAt) || !rs.ExpiresAt.Equal(approvedAt.Add(time.Hour)) || len(rs.Approvers) != 1 || rs.Approvers[0] != "bob" {
		t.Fatalf("after approval (expiry counts from approval): %+v", rs)
	}
	if st, pw := alice.credential(id, ""); st != 200 || pw != s.Inspect().Password(31) {
		t.Fatalf("credential after approval: %d", st)
	}
	st, body = dave.put("Requests/"+itoa(id)+"/Approve", nil)
	wantStatus(t, "approve an active request", st, body, 403, "4036")

	// Self-approval: dave is requestor/approver on 31.
	did := dave.mustCreate(3, 31, 60)
	st, body = dave.put("Requests/"+itoa(did)+"/Approve", nil)
	wantStatus(t, "self-approval", st, body, 403, "4033")
	st, body = dave.put("Requests/"+itoa(did)+"/Deny", nil)
	wantStatus(t, "self-denial", st, body, 403, "4033")

	// Two approvers needed.
	s.Edit().SetAccountPolicy(31, Policy{Approvers: []string{"bob", "dave"}, RequiredApprovals: 2})
	cid := carol.mustCreate(3, 31, 30)
	st, body = bob.put("Requests/"+itoa(cid)+"/Approve", nil)
	wantStatus(t, "first of two approvals", st, body, 204, "")
	if rs := mustState(t, s, cid); rs.Status != StatusPending {
		t.Fatalf("after one of two approvals: %+v", rs)
	}
	st, body = bob.put("Requests/"+itoa(cid)+"/Approve", nil)
	wantStatus(t, "double approval", st, body, 403, "4036")
	s.Advance(time.Minute)
	st, body = dave.put("Requests/"+itoa(cid)+"/Approve", nil)
	wantStatus(t, "second approval", st, body, 204, "")
	rs = mustState(t, s, cid)
	if rs.Status != StatusActive || len(rs.Approvers) != 2 || !rs.ExpiresAt.Equal(s.Now().Add(30*time.Minute)) {
		t.Fatalf("after two approvals: %+v", rs)
	}

	// Another approver's account: bob approves nothing on 11.
	aid := alice.mustCreate(1, 11, 5)
	st, body = bob.put("Requests/"+itoa(aid)+"/Approve", nil)
	wantStatus(t, "approver of another account", st, body, 403, "4031")
}

func TestPendingLapses(t *testing.T) {
	s := newDemo(t)
	alice := signIn(t, s, "alice")
	before := s.Inspect().Password(31)
	id := alice.mustCreate(3, 31, 15)
	s.Advance(15 * time.Minute)
	rs := mustState(t, s, id)
	if rs.Status != StatusExpired || rs.ApprovedAt != nil {
		t.Fatalf("unapproved request after its window: %+v", rs)
	}
	if s.Inspect().Password(31) != before {
		t.Fatal("an unreleased request rotated the password")
	}
	st, body := signIn(t, s, "bob").put("Requests/"+itoa(id)+"/Approve", nil)
	wantStatus(t, "approve a lapsed request", st, body, 404, "")
}

func TestConflicts(t *testing.T) {
	s := newDemo(t)
	alice := signIn(t, s, "alice")
	carol := signIn(t, s, "carol")

	id := alice.mustCreate(1, 11, 60)
	st, _, body := alice.create(map[string]any{"SystemID": 1, "AccountID": 11, "DurationMinutes": 60})
	wantStatus(t, "same user, same account", st, body, 409, "4091")
	if !strings.HasPrefix(body, `"4091 - Conflicting request exists`) {
		t.Errorf("409 body %s", body)
	}
	carol.mustCreate(1, 11, 60) // another user, non-exclusive account: fine

	t.Run("exclusive", func(t *testing.T) {
		aid := alice.mustCreate(1, 12, 60)
		st, _, body := carol.create(map[string]any{"SystemID": 1, "AccountID": 12, "DurationMinutes": 60})
		wantStatus(t, "another user's checkout of an exclusive account", st, body, 409, "4091")
		st, _, body = carol.create(map[string]any{"SystemID": 1, "AccountID": 12, "DurationMinutes": 60, "ConflictOption": "renew"})
		wantStatus(t, "renew does not cancel another user's request", st, body, 409, "4091")
		if rs := mustState(t, s, aid); rs.Status != StatusActive {
			t.Fatalf("alice's request after carol's renew: %+v", rs)
		}
		st, body = alice.put("Requests/"+itoa(aid)+"/Checkin", nil)
		wantStatus(t, "checkin", st, body, 204, "")
		carol.mustCreate(1, 12, 60)
	})

	t.Run("reuse", func(t *testing.T) {
		st, got, body := alice.create(map[string]any{"SystemID": 1, "AccountID": 11, "DurationMinutes": 5, "ConflictOption": "reuse"})
		wantStatus(t, "reuse", st, body, 200, "")
		if got != id {
			t.Fatalf("reuse answered %d, want %d", got, id)
		}
		st, _, body = alice.create(map[string]any{"SystemID": 1, "AccountID": 11, "DurationMinutes": 5, "ConflictOption": "reuse", "AccessType": "SSH"})
		wantStatus(t, "reuse with another access type", st, body, 409, "4091")
		st, nid, body := alice.create(map[string]any{"SystemID": 2, "AccountID": 21, "DurationMinutes": 5, "ConflictOption": "reuse"})
		wantStatus(t, "reuse without an existing request creates", st, body, 201, "")
		if nid == 0 {
			t.Fatal("no ID")
		}
	})

	t.Run("renew", func(t *testing.T) {
		before := s.Inspect().Password(11)
		s.Advance(time.Minute)
		st, nid, body := alice.create(map[string]any{"SystemID": 1, "AccountID": 11, "DurationMinutes": 5, "ConflictOption": "RENEW"})
		wantStatus(t, "renew", st, body, 201, "")
		if nid == id {
			t.Fatal("renew returned the old ID")
		}
		old := mustState(t, s, id)
		if old.Status != StatusCheckedIn || old.CheckinReason != "renewed" || old.EndedAt == nil {
			t.Fatalf("old request after renew: %+v", old)
		}
		if s.Inspect().Password(11) == before {
			t.Fatal("renew did not rotate the old checkout's password")
		}
		if rs := mustState(t, s, nid); rs.Status != StatusActive {
			t.Fatalf("new request: %+v", rs)
		}
	})

	t.Run("pending conflicts too", func(t *testing.T) {
		pid := alice.mustCreate(3, 31, 30)
		for _, opt := range []string{"", "reuse", "renew"} {
			st, _, body := alice.create(map[string]any{"SystemID": 3, "AccountID": 31, "DurationMinutes": 30, "ConflictOption": opt})
			wantStatus(t, "pending + "+opt, st, body, 409, "4091")
		}
		if rs := mustState(t, s, pid); rs.Status != StatusPending {
			t.Fatalf("pending request: %+v", rs)
		}
	})
}

func TestCheckinAndRotation(t *testing.T) {
	s := newDemo(t)
	alice := signIn(t, s, "alice")
	carol := signIn(t, s, "carol")

	before := s.Inspect().Password(11)
	id := alice.mustCreate(1, 11, 60)
	st, body := carol.put("Requests/"+itoa(id)+"/Checkin", nil)
	wantStatus(t, "checkin by another user", st, body, 403, "4031")
	st, body = alice.put("Requests/"+itoa(id)+"/Checkin", map[string]string{"Reason": strings.Repeat("x", 1001)})
	wantStatus(t, "reason too long", st, body, 400, "Reason")
	resp := alice.raw(http.MethodPut, "Requests/"+itoa(id)+"/Checkin", `{"Reason":"x"}`, "text/plain")
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Fatalf("checkin with text/plain body: %d", resp.StatusCode)
	}
	st, body = alice.put("Requests/"+itoa(id)+"/Checkin", map[string]string{"Reason": "done"})
	wantStatus(t, "checkin", st, body, 204, "")
	rs := mustState(t, s, id)
	if rs.Status != StatusCheckedIn || rs.CheckinReason != "done" || rs.EndedAt == nil {
		t.Fatalf("after checkin: %+v", rs)
	}
	after := s.Inspect().Password(11)
	if after == before || len(after) < 20 {
		t.Fatalf("rotation: %q -> %q", before, after)
	}
	st, body = alice.put("Requests/"+itoa(id)+"/Checkin", nil)
	wantStatus(t, "second checkin", st, body, 404, "")
	st, body = alice.credential(id, "")
	wantStatus(t, "credential after checkin", st, body, 404, "")
	st, body = alice.put("Requests/424242/Checkin", nil)
	wantStatus(t, "unknown request", st, body, 404, "")

	// RotateOnCheckin false keeps the password …
	id = alice.mustCreate(1, 11, 60, "RotateOnCheckin", false)
	if rs := mustState(t, s, id); rs.RotateOnCheckin {
		t.Fatal("RotateOnCheckin false not recorded")
	}
	st, body = alice.put("Requests/"+itoa(id)+"/Checkin", nil)
	wantStatus(t, "checkin", st, body, 204, "")
	if s.Inspect().Password(11) != after {
		t.Fatal("password rotated with RotateOnCheckin false")
	}
	// … until PUT RotateOnCheckin turns it on.
	id = alice.mustCreate(1, 11, 60, "RotateOnCheckin", false)
	st, body = carol.put("Requests/"+itoa(id)+"/RotateOnCheckin", nil)
	wantStatus(t, "RotateOnCheckin by another user", st, body, 403, "4031")
	st, body = alice.put("Requests/"+itoa(id)+"/RotateOnCheckin", nil)
	wantStatus(t, "RotateOnCheckin", st, body, 204, "")
	if rs := mustState(t, s, id); !rs.RotateOnCheckin {
		t.Fatal("RotateOnCheckin not set")
	}
	st, body = alice.put("Requests/"+itoa(id)+"/Checkin", nil)
	wantStatus(t, "checkin", st, body, 204, "")
	if s.Inspect().Password(11) == after {
		t.Fatal("password did not rotate after RotateOnCheckin")
	}
	st, body = alice.put("Requests/"+itoa(id)+"/RotateOnCheckin", nil)
	wantStatus(t, "RotateOnCheckin on an ended request", st, body, 404, "")

	// An account that does not rotate ignores the flag.
	s.Edit().SetAccountRotation(12, false)
	pw12 := s.Inspect().Password(12)
	id = alice.mustCreate(1, 12, 60)
	alice.put("Requests/"+itoa(id)+"/Checkin", nil)
	if s.Inspect().Password(12) != pw12 {
		t.Fatal("an account without rotation rotated")
	}

	// Expiry rotates too, unless the request said not to.
	pw := s.Inspect().Password(21)
	alice.mustCreate(2, 21, 5, "RotateOnCheckin", false)
	s.Advance(5 * time.Minute)
	if s.Inspect().Password(21) != pw {
		t.Fatal("expiry rotated with RotateOnCheckin false")
	}
}

func TestDeny(t *testing.T) {
	s := newDemo(t)
	alice := signIn(t, s, "alice")
	bob := signIn(t, s, "bob")
	carol := signIn(t, s, "carol")

	id := alice.mustCreate(3, 31, 60)
	st, body := carol.put("Requests/"+itoa(id)+"/Deny", nil)
	wantStatus(t, "deny by a pure requestor", st, body, 403, "4032")
	st, body = bob.put("Requests/"+itoa(id)+"/Deny", map[string]string{"Reason": "no ticket"})
	wantStatus(t, "deny pending", st, body, 204, "")
	if rs := mustState(t, s, id); rs.Status != StatusDenied || rs.CheckinReason != "no ticket" {
		t.Fatalf("denied: %+v", rs)
	}
	st, body = alice.credential(id, "")
	wantStatus(t, "credential of a denied request", st, body, 404, "")
	st, body = bob.put("Requests/"+itoa(id)+"/Deny", nil)
	wantStatus(t, "deny twice", st, body, 404, "")

	// Denying an active request cancels it and rotates.
	id = alice.mustCreate(3, 31, 60)
	bob.put("Requests/"+itoa(id)+"/Approve", nil)
	before := s.Inspect().Password(31)
	st, body = bob.put("Requests/"+itoa(id)+"/Deny", nil)
	wantStatus(t, "deny active", st, body, 204, "")
	if rs := mustState(t, s, id); rs.Status != StatusDenied {
		t.Fatalf("denied active: %+v", rs)
	}
	if s.Inspect().Password(31) == before {
		t.Fatal("cancelling an active request did not rotate")
	}
}

func TestListRequests(t *testing.T) {
	s := newDemo(t)
	alice := signIn(t, s, "alice")
	bob := signIn(t, s, "bob")
	carol := signIn(t, s, "carol")
	dave := signIn(t, s, "dave")

	active := alice.mustCreate(1, 11, 60)
	pending := alice.mustCreate(3, 31, 60)
	ended := alice.mustCreate(2, 21, 60)
	alice.put("Requests/"+itoa(ended)+"/Checkin", nil)
	carolPending := carol.mustCreate(3, 31, 60)

	list := func(u *psUser, query string) []map[string]any {
		t.Helper()
		st, body := u.do(http.MethodGet, "Requests"+query, nil)
		wantStatus(t, "GET Requests"+query, st, body, 200, "")
		var out []map[string]any
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	ids := func(rs []map[string]any) []int {
		var out []int
		for _, r := range rs {
			out = append(out, int(r["RequestID"].(float64)))
		}
		return out
	}
	eq := func(what string, got []int, want ...int) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %v, want %v", what, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: %v, want %v", what, got, want)
			}
		}
	}
	_ = carolPending
	eq("alice default", ids(list(alice, "")), active, pending)
	eq("alice all req", ids(list(alice, "?status=all&queue=req")), active, pending)
	eq("alice active", ids(list(alice, "?status=active")), active)
	eq("alice pending", ids(list(alice, "?STATUS=Pending")), pending)

	all := list(alice, "")
	r := all[0]
	for _, k := range []string{"RequestID", "SystemID", "SystemName", "AccountID", "AccountName", "DomainName", "AliasID", "ApplicationID", "RequestReleaseDate", "ApprovedDate", "ExpiresDate", "Status", "AccessType", "Reason"} {
		if _, ok := r[k]; !ok {
			t.Errorf("GET Requests element lacks %s", k)
		}
	}
	if r["SystemName"] != "db-prod-01" || r["AccountName"] != "postgres" || r["Status"] != "active" {
		t.Errorf("element: %v", r)
	}
	for _, k := range []string{"RequestReleaseDate", "ApprovedDate", "ExpiresDate"} {
		if _, err := time.Parse(time.RFC3339, r[k].(string)); err != nil {
			t.Errorf("%s = %v is not ISO-8601: %v", k, r[k], err)
		}
	}
	if all[1]["ApprovedDate"] != nil {
		t.Errorf("pending request has ApprovedDate %v", all[1]["ApprovedDate"])
	}

	// bob approves carol's first pending request; his queue then shows the
	// pending ones and the one he approved.
	bob.put("Requests/"+itoa(pending)+"/Approve", nil)
	eq("bob app queue", ids(list(bob, "?queue=app")), pending, carolPending)
	eq("bob app active", ids(list(bob, "?queue=app&status=active")), pending)
	eq("bob app pending", ids(list(bob, "?queue=app&status=pending")), carolPending)
	eq("bob req queue", ids(list(bob, "?queue=req")))
	// dave sees pending ones only (he approved none), and never his own.
	davePending := dave.mustCreate(3, 31, 60)
	eq("dave app queue", ids(list(dave, "?queue=app")), carolPending)
	_ = davePending

	st, body := alice.do(http.MethodGet, "Requests?queue=app", nil)
	wantStatus(t, "pure requestor, approver queue", st, body, 403, "4033")
	st, body = alice.do(http.MethodGet, "Requests?status=done", nil)
	wantStatus(t, "bad status", st, body, 400, "")
	st, body = alice.do(http.MethodGet, "Requests?queue=mine", nil)
	wantStatus(t, "bad queue", st, body, 400, "")
}

func TestConcurrentClients(t *testing.T) {
	s := newDemo(t)
	const clients = 64
	const rounds = 10
	errs := make(chan string, clients)
	done := make(chan struct{})
	users := []string{"svc-vault", "alice", "carol", "dave", `EXAMPLE\erin`}
	signedIn := make([]*psUser, clients)
	for i := range signedIn {
		signedIn[i] = signIn(t, s, users[i%len(users)])
	}
	for i := 0; i < clients; i++ {
		go func(i int) {
			defer func() { done <- struct{}{} }()
			u := signedIn[i]
			sys := 100 + i%40
			acct := sys*10 + 1
			for r := 0; r < rounds; r++ {
				st, id, body := u.create(map[string]any{"SystemID": sys, "AccountID": acct, "DurationMinutes": 60, "ConflictOption": "reuse"})
				if st != 201 && st != 200 {
					errs <- body
					return
				}
				if st, _ := u.credential(id, ""); st != 200 && st != 404 {
					errs <- "credential " + itoa(st)
					return
				}
				if st, body := u.put("Requests/"+itoa(id)+"/Checkin", nil); st != 204 && st != 404 {
					errs <- "checkin " + body
					return
				}
			}
		}(i)
	}
	for i := 0; i < clients; i++ {
		<-done
	}
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := len(s.Inspect().ActiveRequests()); n != 0 {
		t.Errorf("%d requests left active", n)
	}
	if n := s.Inspect().Calls(EndpointCreateRequest); n != clients*rounds {
		t.Errorf("Calls(POST Requests) = %d, want %d", n, clients*rounds)
	}
}

// SetZonelessDates: dates in local time at the offset, without a zone, in
// the form public clients show; SetAliasAccount: an alias's requests go to
// the account it maps to now.
func TestZonelessDatesAndAliasRemap(t *testing.T) {
	s := newDemo(t)
	const off = -(9*time.Hour + 30*time.Minute)
	s.Edit().SetZonelessDates(true, off)
	s.Edit().SetAliasAccount(1, 12)
	alice := signIn(t, s, "alice")
	st, body := alice.do(http.MethodPost, "Aliases/1/Requests", map[string]any{"DurationMinutes": 10, "AccessType": "View"})
	if st != http.StatusCreated {
		t.Fatalf("POST: %d %s", st, body)
	}
	st, body = alice.do(http.MethodGet, "Requests", nil)
	var list []struct {
		AccountID, AliasID int
		RequestReleaseDate string
	}
	if err := json.Unmarshal([]byte(body), &list); st != http.StatusOK || err != nil || len(list) != 1 {
		t.Fatalf("GET: %d %s %v", st, body, err)
	}
	want := s.Inspect().Requests()[0].CreatedAt.UTC().Add(off).Format("2006-01-02T15:04:05.99")
	if r := list[0]; r.AccountID != 12 || r.AliasID != 1 || r.RequestReleaseDate != want ||
		!regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,2})?$`).MatchString(r.RequestReleaseDate) {
		t.Fatalf("listed %+v, want account 12 and release date %s", r, want)
	}
	s.Edit().SetZonelessDates(false, 0)
	_, body = alice.do(http.MethodGet, "Requests", nil)
	if !strings.Contains(body, "Z\"") {
		t.Fatalf("UTC again: %s", body)
	}
}
