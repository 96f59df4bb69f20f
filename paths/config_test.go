package paths

import (
	"strings"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
)

func TestRedactURL(t *testing.T) {
	const secret = "S3cretPw"
	for _, tc := range []struct{ in, want string }{
		{"https://pws.example.com/BeyondTrust/api/public/v3", "https://pws.example.com/BeyondTrust/api/public/v3"},
		{"https://admin:" + secret + "@pws.example.com/x", "https://REDACTED@pws.example.com/x"},
		{"https://" + secret + "@pws.example.com", "https://REDACTED@pws.example.com"},
		{"https://admin:" + secret + "/x?y#z@pws.example.com:443/", "https://REDACTED@pws.example.com:443/"},
		{"admin:" + secret + "@pws.example.com", "REDACTED@pws.example.com"},
		{"a:" + secret + "://b@host", "REDACTED@host"},
		{"https://pws.example.com/?token=" + secret, "https://pws.example.com/?REDACTED"},
		{"https://pws.example.com/#" + secret, "https://pws.example.com/?REDACTED"},
		{"not a url", "not a url"},
		{"", ""},
	} {
		got := RedactURL(tc.in)
		if got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, secret) {
			t.Errorf("RedactURL(%q) keeps the secret", tc.in)
		}
	}
	if got := RedactURL("https://h/" + strings.Repeat("p", 1000)); len(got) > maxQuotedURL+3 {
		t.Errorf("not capped: %d bytes", len(got))
	}
}

func TestValidateConfigURL(t *testing.T) {
	cfg := func(url string, plain bool) *backend.Config {
		return &backend.Config{URL: url, APIKey: "k", RunAs: "svc-vault", RequestTimeout: DefaultRequestTimeout,
			MaxRetries: DefaultMaxRetries, MaxConcurrentRequests: DefaultMaxConcurrent, AllowPlainHTTP: plain}
	}
	for _, tc := range []struct {
		url   string
		plain bool
		want  string // "" = accepted
	}{
		{"https://pws.example.com", false, ""},
		{"HTTPS://pws.example.com", false, ""},
		{"http://pws.example.com", false, "allow_plain_http=true"},
		{"HTTP://pws.example.com", false, "allow_plain_http=true"},
		{"http://pws.example.com", true, ""},
		{"https://u:p@pws.example.com", true, "user info"},
		{"https://pws.example.com/?", false, "query"},
		{"https://pws.example.com/#", false, "fragment"},
	} {
		err := validateConfig(cfg(tc.url, tc.plain), time.Now())
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q (plain %v): %v", tc.url, tc.plain, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q (plain %v): %v, want %q", tc.url, tc.plain, err, tc.want)
		}
	}
}
