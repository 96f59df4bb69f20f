package client_test

import (
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// Every variant recorded in pstest's "Checked against BeyondTrust's
// reference" must parse.

func TestParseTimeReferenceForms(t *testing.T) {
	base := time.Date(2019, 5, 30, 7, 30, 48, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"2019-05-30T07:30:48.16", base.Add(160 * time.Millisecond)}, // local time, no zone, two decimals
		{"2019-05-30T07:30:48.1", base.Add(100 * time.Millisecond)},
		{"2019-05-30T07:30:48.1234567", base.Add(123456700)}, // .NET DateTime: 7 decimals
		{"2019-05-30T07:30:48", base},
		{"2019-05-30T07:30:48.16Z", base.Add(160 * time.Millisecond)},
		{"2019-05-30T07:30:48.16+00:00", base.Add(160 * time.Millisecond)},
		{"2019-05-30T09:30:48.16+02:00", base.Add(160 * time.Millisecond)},
		{"2019-05-30 07:30:48.16", base.Add(160 * time.Millisecond)},
	} {
		got, err := client.ParseTime(tc.in)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestIsPendingStatus(t *testing.T) {
	for s, want := range map[string]bool{
		"pending": true, "Pending": true, "PENDING": true, " pending ": true,
		"Pending Approval": true, "PendingApproval": true, "pending_approval": true, "pending-approval": true,
		"Awaiting Approval": true, "Waiting for approval": true,
		"active": false, "Active": false, "Approved": false, "Auto-Approved": false,
		"Denied": false, "Expired": false, "Forced Checkin": false, "Checked In": false, "": false,
	} {
		if got := client.IsPendingStatus(s); got != want {
			t.Errorf("IsPendingStatus(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestParseErrorBodyReferenceVariants(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		body     string
		wantCode int
	}{
		{"bare code", 403, `4034`, client.CodeNotApproved},
		{"code as JSON string", 403, `"4034"`, client.CodeNotApproved},
		{"code and words", 403, `"4034 - Request is not yet approved"`, client.CodeNotApproved},
		{"words only", 403, `"Request is not yet approved"`, client.CodeNotApproved},
		{"ASP.NET error object", 403, `{"Message":"4034 - Request is not yet approved"}`, client.CodeNotApproved},
		{"ASP.NET error object, words only", 403, `{"Message":"Request is not yet approved."}`, client.CodeNotApproved},
		{"approver only words", 403, `"Approver Only API or account. Only Approvers can access this API or account."`, client.CodeApproverOnly},
		{"requestor only words", 403, `"Requestor Only API or account"`, client.CodeRequestorOnly},
		{"no permission words", 403, `"User does not have permission to request credentials"`, client.CodeNoPermission},
		{"not enough approvers words", 403, `"Not enough Approvers configured to approve a request"`, client.CodeNotEnoughApprover},
		{"already approved words", 403, `"Request has been approved already"`, client.CodeAlreadyApproved},
		{"409 bare code", 409, `4091`, client.CodeConflict},
		{"409 object", 409, `{"Message":"4091 - Conflicting request exists"}`, client.CodeConflict},
		{"words are not read for a 404", 404, `"Request is not yet approved"`, 0},
		{"unknown words", 403, `"Forbidden"`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, _ := client.ParseErrorBody(tc.status, []byte(tc.body)); code != tc.wantCode {
				t.Errorf("code %d, want %d", code, tc.wantCode)
			}
		})
	}
}

func TestDecodePagingWrapper(t *testing.T) {
	for _, tc := range []struct {
		name  string
		body  string
		names []string
	}{
		{"array", `[{"AccountName":"a"},{"AccountName":"b"}]`, []string{"a", "b"}},
		{"single object", `{"AccountName":"a","SystemName":"s"}`, []string{"a"}},
		{"wrapper", `{"TotalCount":5,"Data":[{"AccountName":"a"},{"AccountName":"b"}]}`, []string{"a", "b"}},
		{"wrapper, other case", `{"totalCount":0,"data":[]}`, nil},
		{"wrapper, null data", `{"TotalCount":0,"Data":null}`, nil},
		{"object with a Data field is a record", `{"AccountName":"a","Data":[],"TotalCount":1}`, []string{"a"}},
		{"null", `null`, nil},
		{"empty body", ``, nil},
		// A wrapper without one of its members is still a page, never
		// one empty account.
		{"wrapper, total only", `{"TotalCount":0}`, nil},
		{"wrapper, data only", `{"Data":[{"AccountName":"a"}]}`, []string{"a"}},
		{"wrapper, Data not a list", `{"TotalCount":1,"Data":{"AccountName":"a"}}`, []string{"(error)"}},
		{"wrapper, negative total", `{"TotalCount":-1,"Data":[]}`, []string{"(error)"}},
		{"not JSON", `<html>`, []string{"(error)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := client.DecodeManagedAccounts([]byte(tc.body))
			if len(tc.names) == 1 && tc.names[0] == "(error)" {
				if err == nil {
					t.Fatalf("decoded %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.names) {
				t.Fatalf("got %d accounts, want %d", len(got), len(tc.names))
			}
			for i, n := range tc.names {
				if got[i].AccountName != n {
					t.Errorf("[%d] %q, want %q", i, got[i].AccountName, n)
				}
			}
		})
	}
}

// TestSimulatorVariants runs the client against each spelling the
// simulator can answer with.
func TestSimulatorVariants(t *testing.T) {
	for _, style := range []pstest.ErrorBodies{pstest.ErrorBodiesText, pstest.ErrorBodiesCode, pstest.ErrorBodiesWords, pstest.ErrorBodiesObject} {
		s := newSim(t)
		s.Edit().SetErrorBodies(style)
		c := userClient(t, s, "alice")
		id := mustRequest(t, c, 3, 31) // needs an approver
		_, err := c.Credential(ctxT(t), id, client.CredentialPassword)
		if !client.IsNotApproved(err) {
			t.Errorf("error bodies %d: Credential of a pending request: %v, want 403 4034", style, err)
		}
		_, _, err = c.CreateRequest(ctxT(t), client.RequestInput{SystemID: 3, AccountID: 31, DurationMinutes: 30})
		if !client.IsConflict(err) {
			t.Errorf("error bodies %d: second request: %v, want 409", style, err)
		}
	}
	for _, words := range [][2]string{{"", ""}, {"Pending", "Active"}, {"Pending Approval", "Approved"}} {
		s := newSim(t)
		s.Edit().SetStatusWords(words[0], words[1])
		c := userClient(t, s, "alice")
		mustRequest(t, c, 1, 11)
		mustRequest(t, c, 3, 31)
		list, err := c.ListRequests(ctxT(t), "all", "")
		if err != nil || len(list) != 2 {
			t.Fatalf("%v: ListRequests: %v, %d", words, err, len(list))
		}
		for _, r := range list {
			if got, want := client.IsPendingStatus(r.Status), r.AccountID == 31; got != want {
				t.Errorf("%v: Status %q: pending %v, want %v", words, r.Status, got, want)
			}
		}
	}
}
