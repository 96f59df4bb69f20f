package paths

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/net/http/httpproxy"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// Config defaults and bounds.
const (
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxRetries     = 3
	DefaultMaxConcurrent  = client.DefaultMaxConcurrent
	apiRootSuffix         = "/api/public/v3"
	defaultAPIRoot        = "/BeyondTrust/api/public/v3"
	verifyTimeout         = 30 * time.Second
)

const insecureTLSWarning = "insecure_tls is set: the engine does NOT verify Password Safe's TLS certificate, " +
	"so anyone on the network path can read the API key and every credential. Use it for development only; " +
	"set ca_cert instead."

const plainHTTPWarning = "allow_plain_http is set and url is plain http: the API key, the run-as password or OAuth " +
	"client secret, the session cookie and every credential checked out cross the network unencrypted, readable " +
	"and changeable by anyone on the path. Use it for development only; use an https url (with ca_cert for a private CA)."

const plainHTTPUnusedWarning = "allow_plain_http is set but url is https, so it has no effect; set allow_plain_http=false " +
	"so that a later url change cannot fall back to plain http."

const plainHTTPLegacyWarning = "url is plain http but allow_plain_http is not set (this config was stored before plain http " +
	"was refused): the API key, the session cookie and every credential checked out cross the network unencrypted. " +
	"Change url to https, or, for development only, write allow_plain_http=true; other config writes are refused until then."

const proxyPasswordPlainWarning = "proxy_url is plain http: proxy_password crosses the network to the proxy unencrypted " +
	"(basic authentication, base64 only), readable by anyone on the path to the proxy. Use an https:// proxy_url if the proxy offers one."

const plainHTTPProxyWarning = "allow_plain_http is set, url is plain http and calls go through a proxy: plain http is not " +
	"tunnelled, so the proxy sees every request and answer in full (the API key, the run-as password or OAuth client " +
	"secret, the session cookie and every credential checked out). Development only."

const storedNotOnlyCertsWarning = "%s as stored holds more than PEM certificates (a private key, another PEM block or other " +
	"text; it was written before this was refused): config read shows only its certificates. Write %s again with only " +
	"its -----BEGIN CERTIFICATE----- blocks; other config writes are refused until then."

const configHelpSynopsis = "Configure how the engine reaches and signs in to Password Safe."

const configHelpDescription = `
Connection and sign-in settings for BeyondTrust Password Safe.

Sign in with an API key (api_key, with run_as and, when the API registration
requires it, password) or with OAuth client credentials (client_id and
client_secret; Password Safe then acts as the OAuth client's user).

Secrets (api_key, password, client_secret, client_key, proxy_password) are
write-only: reading config reports only whether they are set. The config is
stored seal-wrapped.

client_cert and client_key (PEM) add a client certificate to every TLS
connection to Password Safe (mTLS, for API registrations with "Client
Certificate Required"), with either sign-in method. Both or neither; the key
must match the certificate; an expired certificate is refused. client_cert
and ca_cert hold only PEM certificates (a private key or other text there
is refused). Reading config shows the certificate with its subject, issuer
and expiry.

proxy_url (with proxy_username and proxy_password for basic authentication)
sends every call through an HTTP proxy; without it the Vault server's
HTTPS_PROXY, HTTP_PROXY and NO_PROXY apply.

With run_as_source taking the user from the caller's Vault identity, the
config's own run_as is never accepted from an identity, and run_as_denied /
run_as_allowed (case-insensitive glob patterns, e.g. corp\* or app-*) bound
the names an identity may give.

The url must be https, with no user info, query or fragment; a plain
http:// url is accepted only with allow_plain_http=true (development only:
every write and read of config then answers with a warning).

Writing config signs in once to prove it works, unless verify=false, and
names the cause when it does not (unreachable URL, 401 bad key, run-as or
password, 403 licence, 410 API version disabled). Every upstream session of
the previous config is signed out.

Example:

    vault write passwordsafe/config url=https://pws.example.com \
        api_key=@api-key.txt run_as=svc-vault ca_cert=@pws-ca.pem
`

// configPaths is the config path family.
func configPaths(engine *backend.Engine) []*framework.Path {
	h := &configHandler{engine: engine}
	return []*framework.Path{{
		Pattern: "config",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: OperationPrefix,
			Navigation:      true,
			ItemType:        "Configuration",
		},
		Fields: mergeFields(configFields(), RunAsFields(false)),
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback:     h.read,
				DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read", OperationSuffix: "configuration"},
				Summary:      "Read the configuration (secrets are reported as set or not, never returned).",
			},
			logical.CreateOperation: &framework.PathOperation{
				Callback:                    h.write,
				DisplayAttrs:                &framework.DisplayAttributes{OperationVerb: "configure"},
				Summary:                     "Configure the connection to Password Safe.",
				ForwardPerformanceStandby:   true,
				ForwardPerformanceSecondary: true,
			},
			logical.UpdateOperation: &framework.PathOperation{
				Callback:                    h.write,
				DisplayAttrs:                &framework.DisplayAttributes{OperationVerb: "configure"},
				Summary:                     "Update the connection to Password Safe; fields not given keep their value.",
				ForwardPerformanceStandby:   true,
				ForwardPerformanceSecondary: true,
			},
			logical.DeleteOperation: &framework.PathOperation{
				Callback:                    h.delete,
				DisplayAttrs:                &framework.DisplayAttributes{OperationVerb: "delete", OperationSuffix: "configuration"},
				Summary:                     "Delete the configuration and sign out every upstream session.",
				ForwardPerformanceStandby:   true,
				ForwardPerformanceSecondary: true,
			},
		},
		ExistenceCheck:  h.exists,
		HelpSynopsis:    configHelpSynopsis,
		HelpDescription: strings.TrimSpace(configHelpDescription),
	}}
}

func configFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"url": {
			Type: framework.TypeString,
			Description: "Password Safe address, e.g. https://pws.example.com (the engine adds " +
				defaultAPIRoot + "), or the full API root ending in " + apiRootSuffix + ".",
			DisplayAttrs: &framework.DisplayAttributes{Name: "URL", Group: "Connection"},
		},
		"api_key": {
			Type:         framework.TypeString,
			Description:  "API key of the Password Safe API registration. Write-only.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "API key", Sensitive: true, Group: "Authentication"},
		},
		"password": {
			Type:         framework.TypeString,
			Description:  "Password of the run_as user, for API registrations that require it. Write-only.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Run-as password", Sensitive: true, Group: "Authentication"},
		},
		"client_id": {
			Type:         framework.TypeString,
			Description:  "OAuth client ID (instead of api_key).",
			DisplayAttrs: &framework.DisplayAttributes{Name: "OAuth client ID", Group: "Authentication"},
		},
		"client_secret": {
			Type:         framework.TypeString,
			Description:  "OAuth client secret. Write-only.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "OAuth client secret", Sensitive: true, Group: "Authentication"},
		},
		"ca_cert": {
			Type:         framework.TypeString,
			Description:  "PEM CA certificate(s) to trust for Password Safe's TLS certificate (and an https proxy's), besides the system roots. Only CERTIFICATE blocks: returned by config read.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "CA certificate", EditType: "file", Group: "TLS"},
		},
		"tls_server_name": {
			Type:         framework.TypeString,
			Description:  "Server name to verify Password Safe's certificate against, when it differs from the URL's host.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "TLS server name", Group: "TLS"},
		},
		"client_cert": {
			Type: framework.TypeString,
			Description: "PEM client certificate (optionally followed by its chain) presented to Password Safe in every TLS handshake, " +
				"for API registrations with \"Client Certificate Required\". Set together with client_key; write both as \"\" to remove. " +
				"Only CERTIFICATE blocks (a private key here is refused: config read returns client_cert). An expired certificate is refused.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Client certificate", EditType: "file", Group: "TLS"},
		},
		"client_key": {
			Type:         framework.TypeString,
			Description:  "PEM private key of client_cert, unencrypted (the config is stored seal-wrapped). Write-only.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Client certificate key", Sensitive: true, EditType: "file", Group: "TLS"},
		},
		"proxy_url": {
			Type: framework.TypeString,
			Description: "HTTP proxy to reach Password Safe through (http://host:port or https://host:port; HTTPS is tunnelled with CONNECT). " +
				"No user info: use proxy_username and proxy_password. Empty: the Vault server's HTTPS_PROXY / HTTP_PROXY / NO_PROXY environment.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Proxy URL", Group: "Connection"},
		},
		"proxy_username": {
			Type:         framework.TypeString,
			Description:  "User name for basic authentication to proxy_url.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Proxy user name", Group: "Connection"},
		},
		"proxy_password": {
			Type:         framework.TypeString,
			Description:  "Password for basic authentication to proxy_url. Write-only.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Proxy password", Sensitive: true, Group: "Connection"},
		},
		"insecure_tls": {
			Type:         framework.TypeBool,
			Description:  "Skip TLS certificate verification. Development only: credentials can be intercepted.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Skip TLS verification (insecure)", Group: "TLS"},
		},
		"run_as_allowed": {
			Type: framework.TypeCommaStringSlice,
			Description: "For run-as users taken from the caller's Vault identity (run_as_source other than fixed, on config or a role): " +
				"glob patterns a derived user must match, case-insensitively ('*' any characters, '?' one; e.g. corp\\*, app-*). " +
				"Empty: any user.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Run-as users allowed", Group: "Run as"},
		},
		"run_as_denied": {
			Type: framework.TypeCommaStringSlice,
			Description: "For run-as users taken from the caller's Vault identity: names or glob patterns a derived user must not match, " +
				"case-insensitively, with or without its domain. Checked before run_as_allowed. The config's own run_as is always refused.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Run-as users denied", Group: "Run as"},
		},
		"allow_plain_http": {
			Type: framework.TypeBool,
			Description: "Accept a plain http:// url. The API key, passwords, the session cookie and every credential " +
				"checked out then cross the network unencrypted: development only. Answered with a warning on every write and read.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Allow plain HTTP (insecure)", Group: "TLS"},
		},
		"request_timeout": {
			Type:         framework.TypeDurationSecond,
			Default:      int(DefaultRequestTimeout / time.Second),
			Description:  "Timeout of each Password Safe call attempt (1s to 10m).",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Request timeout", Group: "Limits"},
		},
		"max_retries": {
			Type:         framework.TypeInt,
			Default:      DefaultMaxRetries,
			Description:  "Retries of a failed call that is safe to repeat (0 to 10).",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Max retries", Group: "Limits"},
		},
		"max_concurrent_requests": {
			Type:         framework.TypeInt,
			Default:      DefaultMaxConcurrent,
			Description:  "Most Password Safe calls in flight at once for this mount (1 to 1024).",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Max concurrent requests", Group: "Limits"},
		},
		"verify": {
			Type:         framework.TypeBool,
			Default:      true,
			Description:  "Sign in once to prove the config before storing it.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Verify", Group: "Connection"},
		},
	}
}

type configHandler struct{ engine *backend.Engine }

func (h *configHandler) exists(ctx context.Context, req *logical.Request, _ *framework.FieldData) (bool, error) {
	cfg, err := h.engine.Config(ctx, req.Storage)
	return cfg != nil, err
}

func (h *configHandler) read(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	cfg, err := h.engine.Config(ctx, req.Storage)
	if err != nil || cfg == nil {
		return nil, err
	}
	caCert, _ := certificatesOnly(cfg.CACert)
	clientCert, _ := certificatesOnly(cfg.ClientCert)
	resp := &logical.Response{Data: map[string]interface{}{
		"url":                     cfg.URL,
		"api_key_set":             cfg.APIKey != "",
		"run_as":                  cfg.RunAs,
		"password_set":            cfg.Password != "",
		"client_id":               cfg.ClientID,
		"client_secret_set":       cfg.ClientSecret != "",
		"ca_cert":                 caCert,
		"tls_server_name":         cfg.TLSServerName,
		"insecure_tls":            cfg.InsecureTLS,
		"client_cert":             clientCert,
		"client_key_set":          cfg.ClientKey != "",
		"proxy_url":               cfg.ProxyURL,
		"proxy_username":          cfg.ProxyUsername,
		"proxy_password_set":      cfg.ProxyPassword != "",
		"allow_plain_http":        cfg.AllowPlainHTTP,
		"request_timeout":         int64(cfg.RequestTimeout / time.Second),
		"max_retries":             cfg.MaxRetries,
		"max_concurrent_requests": cfg.MaxConcurrentRequests,
		"run_as_source":           cfg.RunAsSource,
		"run_as_mount_accessor":   cfg.RunAsMountAccessor,
		"run_as_metadata_key":     cfg.RunAsMetadataKey,
		"run_as_allowed":          nonNil(cfg.RunAsAllowed),
		"run_as_denied":           nonNil(cfg.RunAsDenied),
	}}
	if info := clientCertInfo(cfg.ClientCert); info != nil {
		resp.Data["client_cert_subject"] = info.subject
		resp.Data["client_cert_issuer"] = info.issuer
		resp.Data["client_cert_not_after"] = info.notAfter.UTC().Format(time.RFC3339)
	}
	for _, w := range configWarnings(cfg, h.engine.Now()) {
		resp.AddWarning(w)
	}
	return resp, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// configWarnings are the warnings every read and write of cfg carries.
func configWarnings(cfg *backend.Config, now time.Time) []string {
	var ws []string
	if w := clientCertWarning(cfg.ClientCert, now); w != "" {
		ws = append(ws, w)
	}
	for _, f := range []struct{ name, v string }{{"client_cert", cfg.ClientCert}, {"ca_cert", cfg.CACert}} {
		if _, other := certificatesOnly(f.v); other {
			ws = append(ws, fmt.Sprintf(storedNotOnlyCertsWarning, f.name, f.name))
		}
	}
	if cfg.InsecureTLS {
		ws = append(ws, insecureTLSWarning)
	}
	plain := strings.HasPrefix(strings.ToLower(cfg.URL), "http://")
	if cfg.ProxyPassword != "" && strings.HasPrefix(strings.ToLower(cfg.ProxyURL), "http://") {
		ws = append(ws, proxyPasswordPlainWarning)
	}
	if cfg.AllowPlainHTTP && plain && proxied(cfg) {
		ws = append(ws, plainHTTPProxyWarning)
	}
	switch {
	case cfg.AllowPlainHTTP && plain:
		ws = append(ws, plainHTTPWarning)
	case cfg.AllowPlainHTTP:
		ws = append(ws, plainHTTPUnusedWarning)
	case plain:
		ws = append(ws, plainHTTPLegacyWarning)
	}
	return ws
}

// proxied reports whether calls to cfg.URL go through a proxy: proxy_url,
// or one the environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) names for it.
func proxied(cfg *backend.Config) bool {
	if cfg.ProxyURL != "" {
		return true
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return false
	}
	p, err := httpproxy.FromEnvironment().ProxyFunc()(u)
	return err == nil && p != nil
}

func (h *configHandler) delete(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	if err := h.refuseWhileHeld(ctx, req, "delete the config"); err != nil {
		return nil, err
	}
	return nil, h.engine.DeleteConfig(ctx, req.Storage)
}

// refuseWhileHeld refuses doing what while the mount holds requests: their
// check-ins need this config as it is.
func (h *configHandler) refuseWhileHeld(ctx context.Context, req *logical.Request, what string) error {
	held, err := h.engine.Held(ctx, req.Storage)
	if err != nil {
		return err
	}
	if !held.Any() {
		return nil
	}
	return logical.CodedError(http.StatusConflict, fmt.Sprintf(
		"cannot %s: this mount holds Password Safe requests whose check-ins need the current config "+
			"(%d with leases or pending claims, %d queued check-ins, %d unfinished checkouts); changing it now would "+
			"strand them, still checked out, until they expire. End them first: vault lease revoke -prefix %screds/ "+
			"(and %srequests/ for claimed approvals), deny or let pending approvals lapse, and let queued check-ins "+
			"reach Password Safe; then try again",
		what, held.Requests, held.Queued, held.Unfinished, req.MountPoint, req.MountPoint))
}

func (h *configHandler) write(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	old, err := h.engine.Config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	cfg := backend.Config{
		RequestTimeout:        DefaultRequestTimeout,
		MaxRetries:            DefaultMaxRetries,
		MaxConcurrentRequests: DefaultMaxConcurrent,
	}
	if old != nil {
		cfg = *old
	}
	setString := func(field string, dst *string) {
		if v, ok := d.GetOk(field); ok {
			*dst = strings.TrimSpace(v.(string))
		}
	}
	setString("url", &cfg.URL)
	setString("api_key", &cfg.APIKey)
	setString("run_as", &cfg.RunAs)
	setString("client_id", &cfg.ClientID)
	setString("client_secret", &cfg.ClientSecret)
	setString("tls_server_name", &cfg.TLSServerName)
	setString("run_as_source", &cfg.RunAsSource)
	setString("run_as_mount_accessor", &cfg.RunAsMountAccessor)
	setString("run_as_metadata_key", &cfg.RunAsMetadataKey)
	setString("client_cert", &cfg.ClientCert)
	setString("client_key", &cfg.ClientKey)
	setString("proxy_url", &cfg.ProxyURL)
	setString("proxy_username", &cfg.ProxyUsername)
	// A password may start or end with spaces, but not with a line break: one
	// that a file given as @file ends with (echo, most editors) is not part of it.
	if v, ok := d.GetOk("password"); ok {
		cfg.Password = strings.TrimRight(v.(string), "\r\n")
	}
	if v, ok := d.GetOk("proxy_password"); ok {
		cfg.ProxyPassword = strings.TrimRight(v.(string), "\r\n")
	}
	if v, ok := d.GetOk("ca_cert"); ok {
		cfg.CACert = strings.TrimSpace(v.(string))
	}
	if v, ok := d.GetOk("insecure_tls"); ok {
		cfg.InsecureTLS = v.(bool)
	}
	for field, dst := range map[string]*[]string{"run_as_allowed": &cfg.RunAsAllowed, "run_as_denied": &cfg.RunAsDenied} {
		if v, ok := d.GetOk(field); ok {
			list, err := ValidateRunAsPatterns(field, v.([]string))
			if err != nil {
				return logical.ErrorResponse(err.Error()), nil
			}
			*dst = list
		}
	}
	if v, ok := d.GetOk("allow_plain_http"); ok {
		cfg.AllowPlainHTTP = v.(bool)
	}
	if v, ok := d.GetOk("request_timeout"); ok || old == nil {
		if !ok {
			v = d.Get("request_timeout")
		}
		cfg.RequestTimeout = time.Duration(v.(int)) * time.Second
	}
	if v, ok := d.GetOk("max_retries"); ok {
		cfg.MaxRetries = v.(int)
	}
	if v, ok := d.GetOk("max_concurrent_requests"); ok {
		cfg.MaxConcurrentRequests = v.(int)
	}
	if err := validateConfig(&cfg, h.engine.Now()); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	if old != nil {
		if what := strandingChange(old, &cfg); what != "" {
			if err := h.refuseWhileHeld(ctx, req, "change "+what); err != nil {
				return nil, err
			}
		}
	}

	resp := &logical.Response{}
	for _, w := range configWarnings(&cfg, h.engine.Now()) {
		resp.AddWarning(w)
	}
	if cfg.InsecureTLS {
		h.engine.Logger().Warn("config: insecure_tls is set; Password Safe's TLS certificate is not verified (development only)")
	}
	if cfg.AllowPlainHTTP && strings.HasPrefix(cfg.URL, "http://") {
		h.engine.Logger().Warn("config: allow_plain_http is set and url is plain http; the API key, session and credentials cross the network unencrypted (development only)",
			"url", RedactURL(cfg.URL))
	}
	var verified *client.Client
	if d.Get("verify").(bool) {
		runAs := cfg.RunAs
		if !cfg.OAuth() && runAs == "" {
			resp.AddWarning("config not verified: sign-in needs a fixed run_as user, and this config takes the run-as user from the caller's identity")
		} else {
			cl, err := h.engine.NewClient(&cfg, runAs)
			if err != nil {
				return logical.ErrorResponse("invalid config: %s", err), nil
			}
			vctx, cancel := context.WithTimeout(ctx, verifyTimeout)
			_, err = cl.SignIn(vctx)
			cancel()
			if err != nil {
				return logical.ErrorResponse(verifyError(&cfg, err)), nil
			}
			verified = cl
		}
	}
	if err := h.engine.SaveConfig(ctx, req.Storage, &cfg, verified); err != nil {
		return nil, err
	}
	h.engine.Logger().Info("config written", "url", RedactURL(cfg.URL), "run_as", cfg.RunAs, "oauth", cfg.OAuth(),
		"client_cert", cfg.ClientCert != "", "proxy", proxyDescription(&cfg), "verified", verified != nil)
	if len(resp.Warnings) == 0 {
		return nil, nil
	}
	return resp, nil
}
