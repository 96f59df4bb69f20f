package paths

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

func TestRequestID(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want int
	}{
		{"1", 1}, {"007", 7}, {"2147483647", 2147483647},
		{"0", 0}, {"-1", 0}, {"", 0}, {"abc", 0}, {"2147483648", 0}, {"99999999999999999999", 0}, {" 1", 0},
	} {
		d := &framework.FieldData{Raw: map[string]interface{}{"id": tc.raw}}
		id, bad := requestID(d)
		if id != tc.want || (tc.want == 0) != (bad != nil) {
			t.Errorf("requestID(%q) = %d, %v; want %d", tc.raw, id, bad, tc.want)
		}
	}
}

// Each refusal says what Password Safe's sub-code means for this action,
// keeps the status, and names the run-as user.
func TestRefusalMessages(t *testing.T) {
	forbidden := func(code int) error {
		return &client.Error{Op: "PUT Requests/{id}/X", StatusCode: http.StatusForbidden, Code: code, Message: "server text"}
	}
	approve := &requestAction{name: "approve", verb: "approve"}
	checkin := &requestAction{name: "checkin", verb: "check in"}
	for _, tc := range []struct {
		a      *requestAction
		err    error
		status int
		want   string
	}{
		{approve, forbidden(client.CodeApproverOnly), 403, "their own request (4033)"},
		{approve, forbidden(client.CodeAlreadyApproved), 403, "approved already (4036)"},
		{approve, forbidden(client.CodeNoPermission), 403, "may not approve or deny requests for this account (4031)"},
		{approve, forbidden(client.CodeRequestorOnly), 403, "is a requestor, not an approver (4032)"},
		{approve, forbidden(client.CodeNotEnoughApprover), 403, "not enough approvers"},
		{checkin, forbidden(client.CodeNotApproved), 403, "not approved yet (4034)"},
		{checkin, forbidden(client.CodeNoPermission), 403, "did not make this request (4031)"},
		{checkin, &client.Error{Op: "PUT", StatusCode: 404}, 404, "has ended"},
		{checkin, &client.Error{Op: "PUT", StatusCode: 503}, 502, "Password Safe failed"},
		{checkin, &client.Error{Op: "PUT", StatusCode: 401}, 502, "sign-in"},
	} {
		err := tc.a.refusal(42, "dave", tc.err)
		var coded logical.HTTPCodedError
		if !errors.As(err, &coded) || coded.Code() != tc.status {
			t.Errorf("%s %v: %v, want status %d", tc.a.name, tc.err, err, tc.status)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tc.want) || !strings.Contains(msg, "request 42") || !strings.Contains(msg, `"dave"`) {
			t.Errorf("%s %v: message %q lacks %q", tc.a.name, tc.err, msg, tc.want)
		}
	}
}

func TestQueueAndStatus(t *testing.T) {
	fields := requestPaths(nil, nil)[0].Fields
	for _, tc := range []struct {
		raw                 map[string]interface{}
		status, queue, fail string
	}{
		{raw: map[string]interface{}{}},
		{raw: map[string]interface{}{"status": "Pending", "queue": "APP"}, status: "pending", queue: "app"},
		{raw: map[string]interface{}{"status": "open"}, fail: "status must be"},
		{raw: map[string]interface{}{"queue": "x"}, fail: "queue must be"},
	} {
		d := &framework.FieldData{Raw: tc.raw, Schema: fields}
		status, queue, err := queueAndStatus(d, true)
		if tc.fail != "" {
			if err == nil || !strings.Contains(err.Error(), tc.fail) {
				t.Errorf("%v: err %v, want %q", tc.raw, err, tc.fail)
			}
			continue
		}
		if err != nil || status != tc.status || queue != tc.queue {
			t.Errorf("%v: %q %q %v", tc.raw, status, queue, err)
		}
	}
}
