package paths

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// validateConfig checks cfg and normalizes its URL to the API root.
func validateConfig(cfg *backend.Config) error {
	if cfg.URL == "" {
		return errors.New("url is required (e.g. https://pws.example.com)")
	}
	// Credentials never go in the url, and no message quotes them: every
	// message below quotes the url through RedactURL only.
	if strings.Contains(cfg.URL, "@") {
		return errors.New("url must not contain user info (user:password@host); the engine signs in with api_key " +
			"(with run_as and password) or client_id and client_secret, never with credentials in the url")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("url must be an http(s) address such as https://pws.example.com, got %q", RedactURL(cfg.URL))
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.RawFragment != "" || strings.Contains(cfg.URL, "#") {
		return fmt.Errorf("url must not carry a query or fragment, got %q", RedactURL(cfg.URL))
	}
	if u.Scheme == "http" && !cfg.AllowPlainHTTP {
		return fmt.Errorf("url %q is plain http: the API key, passwords, the session cookie and every credential checked out "+
			"would cross the network unencrypted. Use an https url (with ca_cert for a private CA), or, for development only, "+
			"set allow_plain_http=true", RedactURL(cfg.URL))
	}
	p := strings.TrimRight(u.Path, "/")
	if !strings.HasSuffix(strings.ToLower(p), apiRootSuffix) {
		p += defaultAPIRoot
	}
	u.Path = p
	cfg.URL = u.String()

	apiKey, oauth := cfg.APIKey != "", cfg.ClientID != "" || cfg.ClientSecret != ""
	switch {
	case apiKey && oauth:
		return errors.New("set either api_key or client_id and client_secret, not both (to switch, write the other as an empty string)")
	case !apiKey && !oauth:
		return errors.New("set api_key (with run_as) or client_id and client_secret")
	case oauth && (cfg.ClientID == "" || cfg.ClientSecret == ""):
		return errors.New("OAuth sign-in needs both client_id and client_secret")
	}
	if oauth {
		if cfg.RunAs != "" || cfg.Password != "" || (cfg.RunAsSource != "" && cfg.RunAsSource != backend.RunAsFixed) {
			return errors.New("run_as, password and run_as_source apply to api_key sign-in only; OAuth acts as the OAuth client's user")
		}
	}
	for _, f := range []struct{ name, v string }{
		{"api_key", cfg.APIKey}, {"password", cfg.Password}, {"client_id", cfg.ClientID}, {"client_secret", cfg.ClientSecret},
	} {
		if err := ValidateSecret(f.name, f.v); err != nil {
			return err
		}
	}
	if cfg.TLSServerName != "" {
		if err := ValidateName("tls_server_name", cfg.TLSServerName); err != nil {
			return err
		}
	}
	if cfg.RunAs != "" {
		if err := backend.ValidateUserName("run_as", cfg.RunAs); err != nil {
			return err
		}
	}
	if err := ValidateRunAsSettings(cfg.RunAsSource, cfg.RunAsMountAccessor, cfg.RunAsMetadataKey); err != nil {
		return err
	}
	if apiKey && (cfg.RunAsSource == "" || cfg.RunAsSource == backend.RunAsFixed) && cfg.RunAs == "" {
		return errors.New("api_key sign-in needs run_as (or a run_as_source that takes the user from the caller's identity)")
	}
	if cfg.Password != "" && cfg.RunAsSource != "" && cfg.RunAsSource != backend.RunAsFixed {
		return fmt.Errorf("run_as_source=%s takes the Password Safe user from the caller's Vault identity and needs an API "+
			"registration that does not require the user's password; remove password (password=\"\") and use such a registration's api_key", cfg.RunAsSource)
	}
	if cfg.CACert != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(cfg.CACert)) {
		return errors.New("ca_cert holds no PEM certificate")
	}
	if cfg.RequestTimeout < time.Second || cfg.RequestTimeout > 10*time.Minute {
		return errors.New("request_timeout must be between 1s and 10m")
	}
	if cfg.MaxRetries < 0 || cfg.MaxRetries > 10 {
		return errors.New("max_retries must be between 0 and 10")
	}
	if cfg.MaxConcurrentRequests < 1 || cfg.MaxConcurrentRequests > 1024 {
		return errors.New("max_concurrent_requests must be between 1 and 1024")
	}
	return nil
}

// verifyError says why the proving sign-in failed, naming the cause and
// never a secret.
func verifyError(cfg *backend.Config, err error) string {
	const tail = " (write verify=false to store the config anyway)"
	who := fmt.Sprintf("api_key, run_as %q or password", cfg.RunAs)
	if cfg.OAuth() {
		who = "client_id or client_secret"
	}
	switch code := client.StatusCode(err); {
	case errors.Is(err, client.ErrInvalidInput):
		return fmt.Sprintf("invalid config: %v", err)
	case code == 0:
		return fmt.Sprintf("cannot reach Password Safe at %s: %v%s", RedactURL(cfg.URL), err, tail)
	case code == http.StatusUnauthorized:
		return fmt.Sprintf("Password Safe refused the sign-in (HTTP 401): the %s is wrong, the user may not use this API registration, or the registration does not allow Vault's address%s", who, tail)
	case code == http.StatusForbidden:
		return fmt.Sprintf("Password Safe refused the sign-in (HTTP 403): its licence is invalid or does not cover the API%s", tail)
	case code == http.StatusGone:
		return fmt.Sprintf("Password Safe refused the sign-in (HTTP 410): API version 3 is disabled on the server%s", tail)
	case code == http.StatusNotFound:
		return fmt.Sprintf("no Password Safe API at %s (HTTP 404): check url%s", RedactURL(cfg.URL), tail)
	default:
		return fmt.Sprintf("signing in to Password Safe failed: %v%s", err, tail)
	}
}

// maxQuotedURL caps a url quoted in a message.
const maxQuotedURL = 256

// RedactURL returns raw fit to quote in a message or a log line: any user
// info (everything between "scheme://" and the last '@', so a password
// holding '/', '?' or '#' is covered too) and any query or fragment are
// replaced by REDACTED, and the result is capped. It does not parse, so it
// works on a url that does not parse either. Quote the result with %q so
// control characters are escaped.
func RedactURL(raw string) string {
	prefix, rest := "", raw
	if i := strings.Index(raw, "://"); i > 0 && isScheme(raw[:i]) {
		prefix, rest = raw[:i+3], raw[i+3:]
	}
	if j := strings.LastIndex(rest, "@"); j >= 0 {
		rest = "REDACTED@" + rest[j+1:]
	}
	if k := strings.IndexAny(rest, "?#"); k >= 0 {
		rest = rest[:k] + "?REDACTED"
	}
	out := prefix + rest
	if utf8.RuneCountInString(out) > maxQuotedURL {
		out = backend.CutReason(out, maxQuotedURL) + "..."
	}
	return out
}

// isScheme reports whether s is a URL scheme (RFC 3986: a letter, then
// letters, digits, '+', '-', '.').
func isScheme(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// strandingChange names a change from old to cfg that would send the
// check-ins of held requests elsewhere (another server, another user, or
// credentials that cannot act as the user who made them); "" when none.
func strandingChange(old, cfg *backend.Config) string {
	switch {
	case !strings.EqualFold(strings.TrimRight(old.URL, "/"), strings.TrimRight(cfg.URL, "/")):
		return "url"
	case old.OAuth() != cfg.OAuth():
		return "the sign-in method (API key or OAuth)"
	case old.OAuth() && old.ClientID != cfg.ClientID:
		return "client_id"
	case !old.OAuth() && !strings.EqualFold(old.RunAs, cfg.RunAs):
		return "run_as"
	}
	return ""
}
