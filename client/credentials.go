package client

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"unicode/utf8"
)

// Credential is GET Credentials/{requestID}?type=.
// An empty typ sends no type (the server's default, password). A request
// not yet approved answers 403 with sub-code 4034 (IsNotApproved).
func (c *Client) Credential(ctx context.Context, requestID int, typ CredentialType) (string, error) {
	if err := checkID("request ID", requestID); err != nil {
		return "", err
	}
	typ, err := normCredentialType(typ)
	if err != nil {
		return "", err
	}
	res, err := c.do(ctx, &call{
		op: opCredential, method: http.MethodGet, path: "Credentials/" + strconv.Itoa(requestID),
		query: typeQuery(typ), session: true, retry: retryAll,
	})
	defer res.free()
	if err != nil {
		return "", err
	}
	s, ok := decodeJSONString(res.bytes())
	if !ok {
		return "", badResponse(opCredential, res.status, len(res.bytes()))
	}
	return s, nil
}

// AliasCredential is GET Aliases/{aliasID}/Credentials/{requestID}?type=.
func (c *Client) AliasCredential(ctx context.Context, aliasID, requestID int, typ CredentialType) (*AliasCredential, error) {
	if err := checkID("alias ID", aliasID); err != nil {
		return nil, err
	}
	if err := checkID("request ID", requestID); err != nil {
		return nil, err
	}
	typ, err := normCredentialType(typ)
	if err != nil {
		return nil, err
	}
	res, err := c.do(ctx, &call{
		op:     opAliasCredential,
		method: http.MethodGet,
		path:   "Aliases/" + strconv.Itoa(aliasID) + "/Credentials/" + strconv.Itoa(requestID),
		query:  typeQuery(typ), session: true, retry: retryAll,
	})
	defer res.free()
	if err != nil {
		return nil, err
	}
	out := &AliasCredential{}
	// The decoder's error could quote part of the body, which holds the
	// secret: report only that the shape was wrong.
	if b := bytes.TrimSpace(res.bytes()); len(b) == 0 || b[0] != '{' || json.Unmarshal(b, out) != nil {
		return nil, badResponse(opAliasCredential, res.status, len(res.bytes()))
	}
	return out, nil
}

// ISARequestInput is the body of POST ISARequests. DurationMinutes and
// Reason are optional (0 and "" are not sent).
type ISARequestInput struct {
	SystemID        int    `json:"SystemID"`
	AccountID       int    `json:"AccountID"`
	DurationMinutes int    `json:"DurationMinutes,omitempty"`
	Reason          string `json:"Reason,omitempty"`
}

// ISARequest is POST ISARequests?type=: for a user with the ISA role, a View
// request and its credential in one call. It creates a request, so like
// CreateRequest it is only repeated when the request provably never left.
func (c *Client) ISARequest(ctx context.Context, in ISARequestInput, typ CredentialType) (string, error) {
	if err := checkID("SystemID", in.SystemID); err != nil {
		return "", err
	}
	if err := checkID("AccountID", in.AccountID); err != nil {
		return "", err
	}
	if in.DurationMinutes != 0 && (in.DurationMinutes < MinDurationMinutes || in.DurationMinutes > MaxDurationMinutes) {
		return "", invalid("DurationMinutes must be 0 (server default) or between %d and %d, got %d",
			MinDurationMinutes, MaxDurationMinutes, in.DurationMinutes)
	}
	if err := checkReason("Reason", in.Reason); err != nil {
		return "", err
	}
	typ, err := normCredentialType(typ)
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(&in)
	if err != nil {
		return "", invalid("encoding the request: %v", err)
	}
	res, err := c.do(ctx, &call{
		op: opISARequest, method: http.MethodPost, path: "ISARequests", query: typeQuery(typ),
		body: body, session: true, retry: retryUnsent,
	})
	defer res.free()
	if err != nil {
		return "", err
	}
	b := bytes.TrimSpace(res.bytes())
	if s, ok := decodeJSONString(b); ok {
		return s, nil
	}
	var o struct {
		Credentials *string `json:"Credentials"`
	}
	if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &o) != nil || o.Credentials == nil {
		return "", badResponse(opISARequest, res.status, len(res.bytes()))
	}
	return *o.Credentials, nil
}

func typeQuery(t CredentialType) string {
	if t == "" {
		return ""
	}
	return "type=" + url.QueryEscape(string(t))
}

// decodeJSONString decodes a body that is one JSON string. The common case,
// a string without escapes, is sliced out directly; anything else goes
// through encoding/json.
func decodeJSONString(b []byte) (string, bool) {
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	inner := b[1 : len(b)-1]
	simple := utf8.Valid(inner)
	for _, ch := range inner {
		if ch == '\\' || ch == '"' || ch < 0x20 {
			simple = false
			break
		}
	}
	if simple {
		return string(inner), true
	}
	var s string
	if json.Unmarshal(b, &s) != nil {
		return "", false
	}
	return s, true
}
