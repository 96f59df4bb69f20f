package client

import (
	"net/http"
	"time"
)

// Test hooks for the external test package (client_test).

// SetBackoffForTest makes retries fast.
func SetBackoffForTest(c *Client, base, cap time.Duration) {
	c.backoffBase, c.backoffCap = base, cap
}

// Backoff exposes the retry delay computation.
func Backoff(c *Client, n int, retryAfter time.Duration) time.Duration {
	return c.backoff(n, retryAfter)
}

var (
	ParseRetryAfter  = parseRetryAfter
	PSAuthHeader     = psAuthHeader
	ParseRequestID   = parseRequestID
	DecodeJSONString = decodeJSONString
	NeverSent        = neverSent
)

// ShouldRetry reports the decision for a call that creates something (unsent
// only) or not.
func ShouldRetry(creates bool, status int, err error) bool {
	p := retryAll
	if creates {
		p = retryUnsent
	}
	return shouldRetry(p, status, err)
}

// TransportForTest returns the *http.Transport New built (nil when HTTPClient was given).
func TransportForTest(c *Client) *http.Transport {
	tr, _ := c.hc.Transport.(*http.Transport)
	return tr
}

// HTTPClientForTest returns the *http.Client the client uses.
func HTTPClientForTest(c *Client) *http.Client { return c.hc }

// NewErrorForTest builds the *Error a call would return for this answer.
func NewErrorForTest(c *Client, op string, status int, body []byte, authorization string) *Error {
	return c.newError(&call{op: op, authorization: authorization}, status, body)
}

// ParseErrorBody parses an error body without redaction.
func ParseErrorBody(status int, body []byte) (int, string) { return parseErrorBody(status, body, nil) }
func DecodeManagedAccounts(b []byte) ([]ManagedAccount, error) {
	var out []ManagedAccount
	err := decodeList(b, &out)
	return out, err
}

// RecordForTest records one successful call of op.
func RecordForTest(m *Metrics, op string, d time.Duration) { m.record(op, d, 0, nil, 0) }
