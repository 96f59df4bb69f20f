package paths

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
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

// validateConfig checks cfg and normalizes its URL to the API root. now
// is the engine's clock, for the client certificate's expiry.
func validateConfig(cfg *backend.Config, now time.Time) error {
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
	if cfg.CACert != "" {
		if !x509.NewCertPool().AppendCertsFromPEM([]byte(cfg.CACert)) {
			return errors.New("ca_cert holds no PEM certificate")
		}
		if err := onlyCertificates("ca_cert", cfg.CACert); err != nil {
			return err
		}
	}
	if err := validateClientCert(cfg, u.Scheme, now); err != nil {
		return err
	}
	if err := validateProxy(cfg); err != nil {
		return err
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

// validateClientCert checks client_cert and client_key: both or neither,
// PEM that parses, the key the certificate's, an https url, and a
// certificate that has not expired. No message quotes the key.
func validateClientCert(cfg *backend.Config, scheme string, now time.Time) error {
	switch {
	case cfg.ClientCert == "" && cfg.ClientKey == "":
		return nil
	case cfg.ClientCert == "" || cfg.ClientKey == "":
		return errors.New("client_cert and client_key must be set together (to remove the client certificate, write both as empty strings)")
	case scheme != "https":
		return errors.New("client_cert needs an https url: a client certificate is presented in the TLS handshake")
	}
	leaf, err := client.FirstPEMCertificate([]byte(cfg.ClientCert))
	if err != nil {
		return fmt.Errorf("client_cert %v", err)
	}
	// config read returns client_cert: it must hold nothing secret.
	if err := onlyCertificates("client_cert", cfg.ClientCert); err != nil {
		return err
	}
	if err := client.CheckPEMPrivateKey([]byte(cfg.ClientKey)); err != nil {
		return fmt.Errorf("client_key %v", err)
	}
	if _, err := client.ParseClientCert([]byte(cfg.ClientCert), []byte(cfg.ClientKey)); err != nil {
		if strings.Contains(err.Error(), "not the private key") {
			return errors.New("client_key is not the private key of client_cert (the first certificate in client_cert must be the one the key belongs to)")
		}
		return errors.New("client_key is not a usable private key (PEM PKCS #1, PKCS #8 or EC, unencrypted)")
	}
	if now.After(leaf.NotAfter) {
		return fmt.Errorf("client_cert (subject %q) expired on %s: Password Safe refuses an expired client certificate; write a current one",
			leaf.Subject.String(), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// splitCertificates returns the CERTIFICATE blocks of data and describes
// (naming field, never quoting data) what else it holds: a private key
// first, else a PEM block of another type, else text outside the PEM
// blocks that is not whitespace (it may be a key without its armour; a
// block pem.Decode cannot parse counts as such text too).
func splitCertificates(field string, data []byte) (certs []*pem.Block, problem error) {
	begin := []byte("-----BEGIN ")
	var key, other, text bool
	rest := data
	for len(rest) > 0 {
		b, r := pem.Decode(rest)
		if b == nil {
			text = text || len(bytes.TrimSpace(rest)) > 0
			break
		}
		// What pem.Decode skipped before this block (anything before its
		// BEGIN line, a malformed block included) must be whitespace.
		consumed := rest[:len(rest)-len(r)]
		if i := bytes.LastIndex(consumed, begin); i < 0 || len(bytes.TrimSpace(consumed[:i])) > 0 {
			text = true
		}
		switch {
		case b.Type == "CERTIFICATE":
			certs = append(certs, b)
		case strings.Contains(b.Type, "PRIVATE KEY"):
			key = true
		default:
			other = true
		}
		rest = r
	}
	switch {
	case key:
		problem = privateKeyError(field)
	case other:
		problem = fmt.Errorf("%s holds a PEM block that is not a certificate: give only -----BEGIN CERTIFICATE----- blocks", field)
	case text:
		problem = fmt.Errorf("%s holds text outside its PEM blocks (such as the \"Bag Attributes\" and subject lines openssl pkcs12 "+
			"writes, or a block that does not parse): give only the -----BEGIN CERTIFICATE----- blocks", field)
	}
	return certs, problem
}

func privateKeyError(field string) error {
	if field == "client_cert" {
		return errors.New("client_cert holds a private key: it is returned by config read, so it must hold only the certificate " +
			"and its chain (-----BEGIN CERTIFICATE----- blocks); give the private key in client_key (write-only), alone")
	}
	return fmt.Errorf("%s holds a private key: it is returned by config read and must hold only CA certificates "+
		"(-----BEGIN CERTIFICATE----- blocks); no private key belongs there", field)
}

// onlyCertificates refuses a field that holds anything besides PEM
// certificates and whitespace (see splitCertificates).
func onlyCertificates(field, data string) error {
	_, problem := splitCertificates(field, []byte(data))
	return problem
}

// certificatesOnly is the CERTIFICATE blocks of a stored field, re-encoded
// (without PEM headers): what config read shows of client_cert and
// ca_cert, so that a config stored before writes were checked this
// strictly cannot return a private key. other reports whether data held
// anything else.
func certificatesOnly(data string) (certs string, other bool) {
	if data == "" {
		return "", false
	}
	blocks, problem := splitCertificates("", []byte(data))
	var b strings.Builder
	for _, c := range blocks {
		b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Bytes}))
	}
	return strings.TrimSpace(b.String()), problem != nil
}

// certInfo is what config read shows of the client certificate.
type certInfo struct {
	subject, issuer string
	notBefore       time.Time
	notAfter        time.Time
	clientAuth      bool // usable for client authentication (no EKU, any, or client auth)
}

func clientCertInfo(pemCert string) *certInfo {
	if pemCert == "" {
		return nil
	}
	c, err := client.FirstPEMCertificate([]byte(pemCert))
	if err != nil {
		return nil
	}
	info := &certInfo{subject: c.Subject.String(), issuer: c.Issuer.String(), notBefore: c.NotBefore, notAfter: c.NotAfter,
		clientAuth: len(c.ExtKeyUsage) == 0}
	for _, u := range c.ExtKeyUsage {
		if u == x509.ExtKeyUsageClientAuth || u == x509.ExtKeyUsageAny {
			info.clientAuth = true
		}
	}
	return info
}

// clientCertRenewWindow: config reads and writes warn this long before the
// client certificate expires.
const clientCertRenewWindow = 30 * 24 * time.Hour

// clientCertWarning warns of a client certificate that has expired (a
// config stored earlier), expires soon, is not yet valid, or is not meant
// for client authentication; "" when none.
func clientCertWarning(pemCert string, now time.Time) string {
	info := clientCertInfo(pemCert)
	switch {
	case info == nil:
		return ""
	case now.After(info.notAfter):
		return fmt.Sprintf("client_cert expired on %s: Password Safe refuses it, so sign-in fails; write a current client_cert and client_key",
			info.notAfter.UTC().Format(time.RFC3339))
	case info.notAfter.Sub(now) < clientCertRenewWindow:
		return fmt.Sprintf("client_cert expires on %s: write its successor (client_cert and client_key) before then",
			info.notAfter.UTC().Format(time.RFC3339))
	case now.Before(info.notBefore):
		return fmt.Sprintf("client_cert is not valid before %s: Password Safe refuses it until then", info.notBefore.UTC().Format(time.RFC3339))
	case !info.clientAuth:
		return "client_cert is not meant for client authentication (its extended key usage lacks clientAuth): Password Safe may refuse it"
	}
	return ""
}

// validateProxy checks proxy_url, proxy_username and proxy_password. No
// message quotes the password; the url is quoted redacted.
func validateProxy(cfg *backend.Config) error {
	if cfg.ProxyURL == "" {
		if cfg.ProxyUsername != "" || cfg.ProxyPassword != "" {
			return errors.New("proxy_username and proxy_password need proxy_url (a proxy from the environment, HTTPS_PROXY, carries its own credentials)")
		}
		return nil
	}
	if strings.Contains(cfg.ProxyURL, "@") {
		return errors.New("proxy_url must not contain user info (user:password@host): give the user name in proxy_username and the password in proxy_password")
	}
	if _, err := client.ParseProxyURL(cfg.ProxyURL); err != nil {
		return fmt.Errorf("proxy_url must be http://host:port or https://host:port with nothing after the port, got %q", RedactURL(cfg.ProxyURL))
	}
	switch {
	case cfg.ProxyPassword != "" && cfg.ProxyUsername == "":
		return errors.New("proxy_password needs proxy_username")
	case strings.Contains(cfg.ProxyUsername, ":"):
		return errors.New("proxy_username must not contain ':' (basic authentication cannot carry it)")
	}
	if err := ValidateSecret("proxy_username", cfg.ProxyUsername); err != nil {
		return err
	}
	return ValidateSecret("proxy_password", cfg.ProxyPassword)
}

// proxyDescription names the proxy for a log line, without credentials.
func proxyDescription(cfg *backend.Config) string {
	if cfg.ProxyURL == "" {
		return "environment"
	}
	return RedactURL(cfg.ProxyURL)
}

// verifyError says why the proving sign-in failed, naming the cause and
// never a secret.
func verifyError(cfg *backend.Config, err error) string {
	const tail = " (write verify=false to store the config anyway)"
	who := fmt.Sprintf("api_key, run_as %q or password", cfg.RunAs)
	if cfg.OAuth() {
		who = "client_id or client_secret"
	}
	cert := "; if the API registration requires a client certificate, set client_cert and client_key"
	if cfg.ClientCert != "" {
		cert = "; or the API registration requires a client certificate and Password Safe does not accept client_cert " +
			"(not issued by a CA it trusts, expired, or not yet valid)"
	}
	switch code := client.StatusCode(err); {
	case errors.Is(err, client.ErrInvalidInput):
		return fmt.Sprintf("invalid config: %v", err)
	case errors.Is(err, client.ErrProxy):
		hint := ""
		if pe, ok := client.AsProxyError(err); ok && pe.StatusCode == http.StatusProxyAuthRequired {
			hint = ": check proxy_username and proxy_password"
			if cfg.ProxyURL == "" {
				hint = ": the proxy from the environment (HTTPS_PROXY) needs credentials; set proxy_url, proxy_username and proxy_password"
			}
		}
		return fmt.Sprintf("cannot reach Password Safe at %s through the proxy %s: %v%s%s",
			RedactURL(cfg.URL), proxyDescription(cfg), err, hint, tail)
	case code == 0:
		return fmt.Sprintf("cannot reach Password Safe at %s: %v%s", RedactURL(cfg.URL), err, tail)
	case code == http.StatusUnauthorized:
		return fmt.Sprintf("Password Safe refused the sign-in (HTTP 401): the %s is wrong, the user may not use this API registration, or the registration does not allow Vault's address%s%s", who, cert, tail)
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
