package client_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

func TestCreateRequestFields(t *testing.T) {
	s := newSim(t)
	c := newClient(t, keyConfig(s, ""))
	ctx := ctxT(t)
	for _, tc := range []struct {
		name string
		in   client.RequestInput
	}{
		{"minimal", client.RequestInput{SystemID: sysDB, AccountID: acctPostgres, DurationMinutes: 1}},
		{"every field", client.RequestInput{
			AccessType: client.AccessRDP, SystemID: sysWeb, AccountID: acctDeploy, DurationMinutes: 90,
			Reason: "change 42: rotate the deploy key", TicketSystemID: ptr(7), TicketNumber: "CHG0042",
			RotateOnCheckin: ptr(false),
		}},
		{"SSH", client.RequestInput{AccessType: client.AccessSSH, SystemID: sysWeb, AccountID: acctRoot, DurationMinutes: 1440}},
		{"App", client.RequestInput{AccessType: client.AccessApp, SystemID: sysWin, AccountID: acctSvcApp,
			ApplicationID: ptr(appBilling), DurationMinutes: 60}},
		{"lower-case enums are normalised", client.RequestInput{AccessType: "view", SystemID: 100, AccountID: 1001,
			DurationMinutes: 10, ConflictOption: "REUSE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, created, err := c.CreateRequest(ctx, tc.in)
			if err != nil {
				t.Fatalf("CreateRequest: %v", err)
			}
			if !created || id <= 0 {
				t.Fatalf("id, created = %d, %t; want a new request", id, created)
			}
			got, ok := s.Inspect().Request(id)
			if !ok {
				t.Fatalf("request %d not on the server", id)
			}
			wantAccess := string(tc.in.AccessType)
			if wantAccess == "" || strings.EqualFold(wantAccess, "view") {
				wantAccess = "View"
			}
			if got.AccessType != wantAccess || got.SystemID != tc.in.SystemID || got.AccountID != tc.in.AccountID ||
				got.DurationMinutes != tc.in.DurationMinutes || got.Reason != tc.in.Reason || got.TicketNumber != tc.in.TicketNumber {
				t.Errorf("server holds %+v, sent %+v", got, tc.in)
			}
			if tc.in.TicketSystemID != nil && got.TicketSystemID != *tc.in.TicketSystemID {
				t.Errorf("TicketSystemID = %d, want %d", got.TicketSystemID, *tc.in.TicketSystemID)
			}
			if tc.in.ApplicationID != nil && got.ApplicationID != *tc.in.ApplicationID {
				t.Errorf("ApplicationID = %d, want %d", got.ApplicationID, *tc.in.ApplicationID)
			}
			wantRotate := tc.in.RotateOnCheckin == nil || *tc.in.RotateOnCheckin
			if got.RotateOnCheckin != wantRotate {
				t.Errorf("RotateOnCheckin = %t, want %t", got.RotateOnCheckin, wantRotate)
			}
			if got.Status != pstest.StatusActive {
				t.Errorf("Status = %q, want active (auto-approve)", got.Status)
			}
		})
	}
}

func TestConflictOptions(t *testing.T) {
	s := newSim(t)
	c := newClient(t, keyConfig(s, ""))
	ctx := ctxT(t)
	in := client.RequestInput{SystemID: sysDB, AccountID: acctPostgres, DurationMinutes: 30}
	first := mustRequest(t, c, sysDB, acctPostgres)

	// No option: 409.
	_, _, err := c.CreateRequest(ctx, in)
	e := wantAPIError(t, err, epPostRequests, 409, 0)
	if !client.IsConflict(err) {
		t.Errorf("IsConflict(%v) = false", err)
	}
	if e.Code != 0 && e.Code != client.CodeConflict {
		t.Errorf("Code = %d, want 0 or 4091", e.Code)
	}

	// reuse: 200 and the same request.
	in.ConflictOption = client.ConflictReuse
	id, created, err := c.CreateRequest(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if created || id != first {
		t.Errorf("reuse: id, created = %d, %t; want %d, false", id, created, first)
	}

	// renew: a new request, the old one ended.
	in.ConflictOption = client.ConflictRenew
	id, created, err = c.CreateRequest(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !created || id == first {
		t.Errorf("renew: id, created = %d, %t; want a new request", id, created)
	}
	if old, _ := s.Inspect().Request(first); old.Status == pstest.StatusActive {
		t.Errorf("renew left request %d %s", first, old.Status)
	}

	// An exclusive account conflicts across users too.
	mustRequest(t, c, sysDB, acctAppUser)
	_, _, err = userClient(t, s, pstest.DemoUserAlice).CreateRequest(ctx,
		client.RequestInput{SystemID: sysDB, AccountID: acctAppUser, DurationMinutes: 5})
	wantAPIError(t, err, epPostRequests, 409, 0)
}

func TestAliasRequest(t *testing.T) {
	s := newSim(t)
	c := newClient(t, keyConfig(s, ""))
	ctx := ctxT(t)
	id, created, err := c.CreateAliasRequest(ctx, 1, client.RequestInput{
		DurationMinutes: 15, Reason: "via alias", TicketNumber: "INC1",
		// Ignored for alias requests: the alias names the account.
		SystemID: 99, AccountID: 99,
	})
	if err != nil || !created {
		t.Fatalf("CreateAliasRequest: %d, %t, %v", id, created, err)
	}
	st, _ := s.Inspect().Request(id)
	if st.AliasID != 1 || st.SystemID != sysDB || st.AccountID != acctPostgres || st.Reason != "via alias" {
		t.Errorf("server holds %+v", st)
	}
	ac, err := c.AliasCredential(ctx, 1, id, client.CredentialPassword)
	if err != nil {
		t.Fatal(err)
	}
	if ac.Password != s.Inspect().Password(acctPostgres) || ac.AliasName != "prod-db-admin" || ac.AccountName != "postgres" ||
		ac.SystemName != "db-prod-01" || ac.AliasID != 1 || ac.AccountID != acctPostgres || ac.SystemID != sysDB {
		t.Errorf("AliasCredential = %+v", ac)
	}
	// reuse through the alias.
	id2, created, err := c.CreateAliasRequest(ctx, 1, client.RequestInput{DurationMinutes: 15, ConflictOption: client.ConflictReuse})
	if err != nil || created || id2 != id {
		t.Errorf("alias reuse: %d, %t, %v; want %d, false", id2, created, err, id)
	}
	// Unknown alias.
	_, _, err = c.CreateAliasRequest(ctx, 999, client.RequestInput{DurationMinutes: 5})
	if sc := client.StatusCode(err); sc != 404 && sc != 403 {
		t.Errorf("unknown alias: %v, want 404 or 403", err)
	}
	// An alias in an unmapped state cannot be requested.
	s.Edit().SetAliasState(2, 0)
	_, _, err = c.CreateAliasRequest(ctx, 2, client.RequestInput{DurationMinutes: 5})
	if err == nil {
		t.Error("request on an unmapped alias succeeded")
	}
	if n := s.Inspect().Calls(epAliasRequest); n < 3 {
		t.Errorf("alias request calls = %d", n)
	}
}

func TestCheckinAndRotate(t *testing.T) {
	s := newSim(t)
	c := newClient(t, keyConfig(s, ""))
	ctx := ctxT(t)

	before := s.Inspect().Password(acctPostgres)
	id := mustRequest(t, c, sysDB, acctPostgres)
	if err := c.Checkin(ctx, id, "done with it"); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Inspect().Request(id)
	if st.Status != pstest.StatusCheckedIn || st.CheckinReason != "done with it" {
		t.Errorf("after Checkin: %s %q", st.Status, st.CheckinReason)
	}
	if s.Inspect().Password(acctPostgres) == before {
		t.Error("password did not rotate on check-in")
	}
	// Checked in already: 404 (the engine counts it as done).
	err := c.Checkin(ctx, id, "")
	wantAPIError(t, err, epCheckin, 404, 0)
	// Checkin without a reason.
	id = mustRequest(t, c, sysDB, acctPostgres)
	if err := c.Checkin(ctx, id, ""); err != nil {
		t.Fatal(err)
	}

	// RotateOnCheckin turns a no-rotation request into a rotating one.
	id, _, err = c.CreateRequest(ctx, client.RequestInput{SystemID: sysDB, AccountID: acctPostgres, DurationMinutes: 5, RotateOnCheckin: ptr(false)})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Inspect().Request(id); st.RotateOnCheckin {
		t.Fatal("RotateOnCheckin=false was not kept")
	}
	if err := c.RotateOnCheckin(ctx, id); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Inspect().Request(id); !st.RotateOnCheckin {
		t.Error("RotateOnCheckin did not set the flag")
	}
	if err := c.Checkin(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	if err := c.RotateOnCheckin(ctx, id); err == nil {
		t.Error("RotateOnCheckin on a checked-in request succeeded")
	}
	if s.Inspect().Calls(epRotate) != 2 || s.Inspect().Calls(epCheckin) < 3 {
		t.Errorf("calls: %v", s.Inspect().CallCounts())
	}
}

func TestApprovalFlow(t *testing.T) {
	s := newSim(t)
	ctx := ctxT(t)
	alice := userClient(t, s, pstest.DemoUserAlice)
	bob := userClient(t, s, pstest.DemoUserBob)
	dave := userClient(t, s, pstest.DemoUserDave)
	carol := userClient(t, s, pstest.DemoUserCarol)

	id, created, err := alice.CreateRequest(ctx, client.RequestInput{SystemID: sysFin, AccountID: acctSA, DurationMinutes: 60, Reason: "quarter close"})
	if err != nil || !created {
		t.Fatalf("CreateRequest: %v", err)
	}
	if st, _ := s.Inspect().Request(id); st.Status != pstest.StatusPending {
		t.Fatalf("status = %s, want pending", st.Status)
	}
	// Not approved yet: 4034.
	_, err = alice.Credential(ctx, id, "")
	wantAPIError(t, err, epCredentials, 403, client.CodeNotApproved)
	if !client.IsNotApproved(err) || !client.IsForbidden(err) {
		t.Errorf("IsNotApproved/IsForbidden(%v) = false", err)
	}
	// Pending requests show in the approver's queue and the requestor's.
	pending, err := bob.ListRequests(ctx, "pending", "app")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(pending, func(r client.Request) bool { return r.RequestID == id }) {
		t.Errorf("bob's pending queue %+v lacks request %d", pending, id)
	}
	mine, err := alice.ListRequests(ctx, "pending", "req")
	if err != nil {
		t.Fatal(err)
	}
	if len(mine) != 1 || mine[0].RequestID != id || mine[0].Status == "" || mine[0].RequestReleaseDate == nil {
		t.Errorf("alice's pending requests = %+v", mine)
	}

	// A requestor calling an approver API: 4032.
	err = carol.Approve(ctx, id, "")
	wantAPIError(t, err, epApprove, 403, client.CodeRequestorOnly)

	if err := bob.Approve(ctx, id, "ok for quarter close"); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	// Approved twice: 4036.
	err = dave.Approve(ctx, id, "")
	wantAPIError(t, err, epApprove, 403, client.CodeAlreadyApproved)

	pw, err := alice.Credential(ctx, id, "")
	if err != nil || pw != s.Inspect().Password(acctSA) {
		t.Fatalf("Credential after approval: %q, %v", pw, err)
	}
	active, err := alice.ListRequests(ctx, "active", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 1 || active[0].ApprovedDate == nil || active[0].ExpiresDate == nil || active[0].AccountName != "sa" {
		t.Errorf("active = %+v", active)
	}

	// Self-approval is refused: 4033.
	did, _, err := dave.CreateRequest(ctx, client.RequestInput{SystemID: sysFin, AccountID: acctSA, DurationMinutes: 30})
	if err != nil {
		t.Fatal(err)
	}
	err = dave.Approve(ctx, did, "")
	wantAPIError(t, err, epApprove, 403, client.CodeApproverOnly)
	err = dave.Deny(ctx, did, "")
	wantAPIError(t, err, epDeny, 403, client.CodeApproverOnly)

	// Deny.
	cid, _, err := carol.CreateRequest(ctx, client.RequestInput{SystemID: sysFin, AccountID: acctSA, DurationMinutes: 30})
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.Deny(ctx, cid, "not this week"); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Inspect().Request(cid); st.Status != pstest.StatusDenied {
		t.Errorf("after Deny: %s", st.Status)
	}
	// A requestor is not an approver: 4033 on the approver queue.
	_, err = alice.ListRequests(ctx, "", "app")
	wantAPIError(t, err, epListRequests, 403, client.CodeApproverOnly)
	// Checkin of a request never approved: 4034 (the engine counts it as done).
	err = dave.Checkin(ctx, did, "")
	wantAPIError(t, err, epCheckin, 403, client.CodeNotApproved)
}

func TestForbiddenSubCodes(t *testing.T) {
	s := newSim(t)
	ctx := ctxT(t)
	svc := newClient(t, keyConfig(s, ""))
	bob := userClient(t, s, pstest.DemoUserBob)
	alice := userClient(t, s, pstest.DemoUserAlice)

	// 4031: the account's API access is off.
	s.Edit().SetAccountAPIEnabled(acctDeploy, false)
	_, _, err := svc.CreateRequest(ctx, client.RequestInput{SystemID: sysWeb, AccountID: acctDeploy, DurationMinutes: 5})
	wantAPIError(t, err, epPostRequests, 403, client.CodeNoPermission)
	s.Edit().SetAccountAPIEnabled(acctDeploy, true)

	// 4031: another user's request.
	id := mustRequest(t, svc, sysDB, acctPostgres)
	_, err = alice.Credential(ctx, id, "")
	wantAPIError(t, err, epCredentials, 403, client.CodeNoPermission)
	err = alice.Checkin(ctx, id, "")
	wantAPIError(t, err, epCheckin, 403, client.CodeNoPermission)

	// 4033: an approver-only user may not request.
	_, _, err = bob.CreateRequest(ctx, client.RequestInput{SystemID: sysDB, AccountID: acctPostgres, DurationMinutes: 5})
	wantAPIError(t, err, epPostRequests, 403, client.CodeApproverOnly)

	// 4035: the policy needs more approvers than it has.
	s.Edit().SetAccountPolicy(acctSA, pstest.Policy{Approvers: []string{pstest.DemoUserBob}, RequiredApprovals: 2})
	_, _, err = alice.CreateRequest(ctx, client.RequestInput{SystemID: sysFin, AccountID: acctSA, DurationMinutes: 5})
	wantAPIError(t, err, epPostRequests, 403, client.CodeNotEnoughApprover)
	for _, err := range []error{err} {
		if client.CodeText(client.SubCode(err)) == "unknown sub-code" {
			t.Errorf("CodeText(%d) unknown", client.SubCode(err))
		}
	}
}

func TestListRequests(t *testing.T) {
	s := newSim(t)
	c := newClient(t, keyConfig(s, ""))
	ctx := ctxT(t)
	all, err := c.ListRequests(ctx, "", "")
	if err != nil || len(all) != 0 {
		t.Fatalf("empty list: %v, %v", all, err)
	}
	ids := []int{mustRequest(t, c, sysDB, acctPostgres), mustRequest(t, c, sysWeb, acctRoot)}
	for _, tc := range []struct {
		status, queue string
		want          int
	}{
		{"", "", 2}, {"all", "req", 2}, {"active", "", 2}, {"pending", "", 0}, {"ACTIVE", "REQ", 2},
	} {
		got, err := c.ListRequests(ctx, tc.status, tc.queue)
		if err != nil {
			t.Fatalf("%q/%q: %v", tc.status, tc.queue, err)
		}
		if len(got) != tc.want {
			t.Errorf("%q/%q: %d requests, want %d", tc.status, tc.queue, len(got), tc.want)
		}
		for _, r := range got {
			if !slices.Contains(ids, r.RequestID) || r.SystemName == "" || r.AccountName == "" || r.ExpiresDate == nil {
				t.Errorf("request %+v", r)
			}
		}
	}
}

func TestISARequest(t *testing.T) {
	s := newSim(t)
	isa := newClient(t, client.Config{BaseURL: s.APIURL, APIKey: pstest.DemoAPIKey, RunAs: pstest.DemoUserISA})
	ctx := ctxT(t)
	pw, err := isa.ISARequest(ctx, client.ISARequestInput{SystemID: sysDB, AccountID: acctPostgres, DurationMinutes: 10, Reason: "isa"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if pw != s.Inspect().Password(acctPostgres) {
		t.Errorf("ISA credential differs from the account's password")
	}
	if n := s.Inspect().Calls(epISA); n != 1 {
		t.Errorf("ISA calls = %d", n)
	}
	// Not an ISA user, or not an ISA system.
	_, err = newClient(t, keyConfig(s, "")).ISARequest(ctx, client.ISARequestInput{SystemID: sysDB, AccountID: acctPostgres}, "")
	wantAPIError(t, err, epISA, 403, 0)
	_, err = isa.ISARequest(ctx, client.ISARequestInput{SystemID: sysWeb, AccountID: acctRoot}, client.CredentialPassword)
	wantAPIError(t, err, epISA, 403, 0)
}
