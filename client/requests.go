package client

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ListRequests is GET Requests?status=&queue= (empty strings are not sent).
// status is all, active or pending; queue is req or app.
func (c *Client) ListRequests(ctx context.Context, status, queue string) ([]Request, error) {
	status, queue = strings.ToLower(status), strings.ToLower(queue)
	switch status {
	case "", "all", "active", "pending":
	default:
		return nil, invalid("status must be all, active or pending, got %q", capString(status, 20))
	}
	switch queue {
	case "", "req", "app":
	default:
		return nil, invalid("queue must be req or app, got %q", capString(queue, 20))
	}
	q := url.Values{}
	if status != "" {
		q.Set("status", status)
	}
	if queue != "" {
		q.Set("queue", queue)
	}
	res, err := c.do(ctx, &call{
		op: opListRequests, method: http.MethodGet, path: "Requests", query: q.Encode(),
		session: true, retry: retryAll,
	})
	defer res.free()
	if err != nil {
		return nil, err
	}
	var out []Request
	if err := decodeList(res.bytes(), &out); err != nil {
		return nil, badResponse(opListRequests, res.status, len(res.bytes()))
	}
	return out, nil
}

// CreateRequest is POST Requests. created is true for 201, false for 200 (reused).
//
// Without ConflictOption reuse the call is only repeated when the request
// provably never reached the server (or after a 401), so a lost answer never
// becomes a second request; the error is returned instead. With reuse a
// lost answer is retried, and the repeat hands back the request the first
// attempt made, reported as created=false: callers that count leases per
// request should key them by the ID, not by created.
func (c *Client) CreateRequest(ctx context.Context, in RequestInput) (id int, created bool, err error) {
	in, err = normRequestInput(in, false)
	if err != nil {
		return 0, false, err
	}
	body, err := json.Marshal(&in)
	if err != nil {
		return 0, false, invalid("encoding the request: %v", err)
	}
	return c.createRequest(ctx, &call{
		op: opCreateRequest, method: http.MethodPost, path: "Requests", body: body,
		session: true, retry: createPolicy(in.ConflictOption),
	})
}

// aliasRequestBody is RequestInput without the fields the alias supplies.
type aliasRequestBody struct {
	AccessType             AccessType     `json:"AccessType,omitempty"`
	DurationMinutes        int            `json:"DurationMinutes"`
	Reason                 string         `json:"Reason,omitempty"`
	AccessPolicyScheduleID *int           `json:"AccessPolicyScheduleID,omitempty"`
	ConflictOption         ConflictOption `json:"ConflictOption,omitempty"`
	TicketSystemID         *int           `json:"TicketSystemID,omitempty"`
	TicketNumber           string         `json:"TicketNumber,omitempty"`
	RotateOnCheckin        *bool          `json:"RotateOnCheckin,omitempty"`
}

// CreateAliasRequest is POST Aliases/{aliasID}/Requests.
// in.SystemID, in.AccountID and in.ApplicationID are ignored (the alias names
// the account); retries work as for CreateRequest.
func (c *Client) CreateAliasRequest(ctx context.Context, aliasID int, in RequestInput) (id int, created bool, err error) {
	if err := checkID("alias ID", aliasID); err != nil {
		return 0, false, err
	}
	in, err = normRequestInput(in, true)
	if err != nil {
		return 0, false, err
	}
	body, err := json.Marshal(&aliasRequestBody{
		AccessType: in.AccessType, DurationMinutes: in.DurationMinutes, Reason: in.Reason,
		AccessPolicyScheduleID: in.AccessPolicyScheduleID, ConflictOption: in.ConflictOption,
		TicketSystemID: in.TicketSystemID, TicketNumber: in.TicketNumber, RotateOnCheckin: in.RotateOnCheckin,
	})
	if err != nil {
		return 0, false, invalid("encoding the request: %v", err)
	}
	return c.createRequest(ctx, &call{
		op: opAliasRequest, method: http.MethodPost, path: "Aliases/" + strconv.Itoa(aliasID) + "/Requests",
		body: body, session: true, retry: createPolicy(in.ConflictOption),
	})
}

// createPolicy: with reuse a repeated POST returns the request the first one
// made, so it may be retried like a GET; otherwise a repeat could create a
// second request and only never-sent attempts are repeated.
func createPolicy(o ConflictOption) retryPolicy {
	if o == ConflictReuse {
		return retryAll
	}
	return retryUnsent
}

func (c *Client) createRequest(ctx context.Context, cl *call) (int, bool, error) {
	res, err := c.do(ctx, cl)
	defer res.free()
	if err != nil {
		return 0, false, err
	}
	var created bool
	switch res.status {
	case http.StatusCreated:
		created = true
	case http.StatusOK:
	default:
		return 0, false, badResponse(cl.op, res.status, len(res.bytes()))
	}
	id, ok := parseRequestID(res.bytes())
	if !ok {
		return 0, false, badResponse(cl.op, res.status, len(res.bytes()))
	}
	return id, created, nil
}

// parseRequestID reads the bare JSON integer POST Requests answers with.
// A quoted number or an object with RequestID are accepted too.
func parseRequestID(b []byte) (int, bool) {
	b = bytes.TrimSpace(b)
	if len(b) > 1 && b[0] == '"' && b[len(b)-1] == '"' {
		b = b[1 : len(b)-1]
	}
	if len(b) > 0 && b[0] == '{' {
		var o struct {
			RequestID int `json:"RequestID"`
		}
		if json.Unmarshal(b, &o) != nil {
			return 0, false
		}
		return o.RequestID, o.RequestID > 0
	}
	id, err := strconv.Atoi(string(b))
	return id, err == nil && id > 0
}

type reasonBody struct {
	Reason string `json:"Reason,omitempty"`
}

// Checkin is PUT Requests/{id}/Checkin with an optional reason.
func (c *Client) Checkin(ctx context.Context, requestID int, reason string) error {
	return c.putRequest(ctx, opCheckin, requestID, "/Checkin", reason)
}

// Approve is PUT Requests/{id}/Approve.
func (c *Client) Approve(ctx context.Context, requestID int, reason string) error {
	return c.putRequest(ctx, opApprove, requestID, "/Approve", reason)
}

// Deny is PUT Requests/{id}/Deny.
func (c *Client) Deny(ctx context.Context, requestID int, reason string) error {
	return c.putRequest(ctx, opDeny, requestID, "/Deny", reason)
}

func (c *Client) putRequest(ctx context.Context, op string, requestID int, action, reason string) error {
	if err := checkID("request ID", requestID); err != nil {
		return err
	}
	if err := checkReason("reason", reason); err != nil {
		return err
	}
	body, err := json.Marshal(reasonBody{Reason: reason})
	if err != nil {
		return invalid("encoding the reason: %v", err)
	}
	res, err := c.do(ctx, &call{
		op: op, method: http.MethodPut, path: "Requests/" + strconv.Itoa(requestID) + action,
		body: body, session: true, retry: retryAll,
	})
	res.free()
	return err
}

// RotateOnCheckin is PUT Requests/{id}/RotateOnCheckin.
func (c *Client) RotateOnCheckin(ctx context.Context, requestID int) error {
	if err := checkID("request ID", requestID); err != nil {
		return err
	}
	res, err := c.do(ctx, &call{
		op: opRotateOnCheckin, method: http.MethodPut, path: "Requests/" + strconv.Itoa(requestID) + "/RotateOnCheckin",
		session: true, retry: retryAll,
	})
	res.free()
	return err
}

// IsPendingStatus reports whether a GET Requests Status word means the
// request still waits for an approver. BeyondTrust's reference types Status
// as a bare string and names only the filter words (status=all|active|
// pending, also spelt All/Active/Pending on GET RequestSets), so every
// spelling of "pending" is accepted: any case, with or without spaces,
// hyphens or underscores, and the longer "Pending Approval" and
// "Awaiting/Waiting for Approval". Everything else (active, approved,
// auto-approved, …) is not pending.
func IsPendingStatus(s string) bool {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		switch r {
		case ' ', '-', '_', '\t':
		default:
			b.WriteRune(r)
		}
	}
	switch b.String() {
	case "pending", "pendingapproval", "awaitingapproval", "waitingforapproval", "waitingapproval":
		return true
	}
	return false
}
