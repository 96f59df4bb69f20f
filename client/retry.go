package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// retryPolicy says which failures a call may repeat.
type retryPolicy uint8

const (
	// retryAll: transport errors, 5xx, 408 and 429. For calls a repeat cannot
	// harm: GET, PUT, sign-in, and POST Requests with ConflictOption=reuse
	// (a repeat hands back the same request).
	retryAll retryPolicy = iota
	// retryUnsent: only failures where the request provably never reached the
	// server (the connection could not be made). For calls that create
	// something, where a lost answer must not turn into a second request.
	retryUnsent
)

// maxRetryAfter bounds how long a server's Retry-After can make us wait
// between two attempts; the caller's context bounds the whole call anyway.
const maxRetryAfter = 10 * time.Second

func shouldRetry(p retryPolicy, status int, err error) bool {
	if err != nil {
		if isPermanentTransportErr(err) {
			return false
		}
		if neverSent(err) {
			return true
		}
		return p == retryAll
	}
	switch {
	case status >= 500, status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return p == retryAll
	}
	return false
}

// neverSent reports whether err happened before any byte of the request
// could reach the server: the dial failed (refused, unreachable, DNS).
func neverSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "dial" || op.Op == "proxyconnect") {
		return true // proxyconnect: the proxy could not be reached
	}
	if _, ok := AsProxyError(err); ok {
		return true // the proxy refused the tunnel
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// isPermanentTransportErr is a failure no repeat will fix: the server's
// certificate does not verify, or the body is not what the API sends.
func isPermanentTransportErr(err error) bool {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		recHeader tls.RecordHeaderError
	)
	if pe, ok := AsProxyError(err); ok && pe.StatusCode >= 400 && pe.StatusCode < 500 {
		return true // the proxy refused (407: its credentials); a repeat gets the same
	}
	return errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &verify) || errors.As(err, &recHeader) || errors.Is(err, ErrUnexpectedResponse) ||
		errors.Is(err, ErrInvalidInput) || errors.Is(err, ErrFileTooLarge)
}

// backoff is the wait before retry n (1-based): exponential from
// backoffBase, capped at backoffCap, with "equal jitter" (half fixed, half
// random) so that many clients that failed together do not retry together,
// yet each still waits a little. A server's Retry-After raises it.
func (c *Client) backoff(n int, retryAfter time.Duration) time.Duration {
	d := c.backoffCap
	if n < 30 {
		if e := c.backoffBase << (n - 1); e > 0 && e < d {
			d = e
		}
	}
	if d > 0 {
		d = d/2 + rand.N(d/2+1)
	}
	if retryAfter > d {
		d = min(retryAfter, maxRetryAfter)
	}
	return d
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs <= 0 {
			return 0
		}
		return min(time.Duration(secs)*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter)
	}
	return 0
}
