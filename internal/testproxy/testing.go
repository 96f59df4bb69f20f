package testproxy

import "testing"

// Proxy credentials the tests use (test values, never real ones).
const (
	User     = "vault-proxy"
	Password = "Pr0xy-Secret-Do-Not-Log"
)

// StartT starts a proxy for t and closes it when t ends.
func StartT(t testing.TB, o Options) *Proxy {
	t.Helper()
	p, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// ClearEnv empties the proxy environment for t (t.Setenv restores it).
func ClearEnv(t testing.TB) {
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"} {
		t.Setenv(k, "")
	}
}
