package paths

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

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

const configHelpSynopsis = "Configure how the engine reaches and signs in to Password Safe."

const configHelpDescription = `
Connection and sign-in settings for BeyondTrust Password Safe.

Sign in with an API key (api_key, with run_as and, when the API registration
requires it, password) or with OAuth client credentials (client_id and
client_secret; Password Safe then acts as the OAuth client's user).

Secrets (api_key, password, client_secret) are write-only: reading config
reports only whether they are set. The config is stored seal-wrapped.

Writing config signs in once to prove it works, unless verify=false, and
names the cause when it does not (unreachable URL, 401 bad key, run-as or
password, 403 licence, 410 API version disabled). Every upstream session of
the previous config is signed out.

Example:

    vault write passwordsafe/config url=https://pws.example.com \
        api_key=@api-key.txt run_as=svc-vault ca_cert=@pws-ca.pem
`

// ConfigPaths is the config path family.
func ConfigPaths(env Env) []*framework.Path {
	h := &configHandler{env: env}
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
			Description:  "PEM CA certificate(s) to trust for Password Safe's TLS certificate, besides the system roots.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "CA certificate", EditType: "file", Group: "TLS"},
		},
		"tls_server_name": {
			Type:         framework.TypeString,
			Description:  "Server name to verify Password Safe's certificate against, when it differs from the URL's host.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "TLS server name", Group: "TLS"},
		},
		"insecure_tls": {
			Type:         framework.TypeBool,
			Description:  "Skip TLS certificate verification. Development only: credentials can be intercepted.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Skip TLS verification (insecure)", Group: "TLS"},
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

type configHandler struct{ env Env }

func (h *configHandler) exists(ctx context.Context, req *logical.Request, _ *framework.FieldData) (bool, error) {
	cfg, err := h.env.Config(ctx, req.Storage)
	return cfg != nil, err
}

func (h *configHandler) read(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	cfg, err := h.env.Config(ctx, req.Storage)
	if err != nil || cfg == nil {
		return nil, err
	}
	resp := &logical.Response{Data: map[string]interface{}{
		"url":                     cfg.URL,
		"api_key_set":             cfg.APIKey != "",
		"run_as":                  cfg.RunAs,
		"password_set":            cfg.Password != "",
		"client_id":               cfg.ClientID,
		"client_secret_set":       cfg.ClientSecret != "",
		"ca_cert":                 cfg.CACert,
		"tls_server_name":         cfg.TLSServerName,
		"insecure_tls":            cfg.InsecureTLS,
		"request_timeout":         int64(cfg.RequestTimeout / time.Second),
		"max_retries":             cfg.MaxRetries,
		"max_concurrent_requests": cfg.MaxConcurrentRequests,
		"run_as_source":           cfg.RunAsSource,
		"run_as_mount_accessor":   cfg.RunAsMountAccessor,
		"run_as_metadata_key":     cfg.RunAsMetadataKey,
	}}
	if cfg.InsecureTLS {
		resp.AddWarning(insecureTLSWarning)
	}
	return resp, nil
}

func (h *configHandler) delete(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	return nil, h.env.DeleteConfig(ctx, req.Storage)
}

func (h *configHandler) write(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	old, err := h.env.Config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	cfg := Config{
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
	if v, ok := d.GetOk("password"); ok {
		cfg.Password = v.(string) // a password may start or end with spaces
	}
	if v, ok := d.GetOk("ca_cert"); ok {
		cfg.CACert = strings.TrimSpace(v.(string))
	}
	if v, ok := d.GetOk("insecure_tls"); ok {
		cfg.InsecureTLS = v.(bool)
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
	if err := validateConfig(&cfg); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}

	resp := &logical.Response{}
	if cfg.InsecureTLS {
		resp.AddWarning(insecureTLSWarning)
		h.env.Logger().Warn("config: insecure_tls is set; Password Safe's TLS certificate is not verified (development only)")
	}
	var verified *client.Client
	if d.Get("verify").(bool) {
		runAs := cfg.RunAs
		if !cfg.OAuth() && runAs == "" {
			resp.AddWarning("config not verified: sign-in needs a fixed run_as user, and this config takes the run-as user from the caller's identity")
		} else {
			cl, err := h.env.NewClient(&cfg, runAs)
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
	if err := h.env.SaveConfig(ctx, req.Storage, &cfg, verified); err != nil {
		return nil, err
	}
	h.env.Logger().Info("config written", "url", cfg.URL, "run_as", cfg.RunAs, "oauth", cfg.OAuth(), "verified", verified != nil)
	if len(resp.Warnings) == 0 {
		return nil, nil
	}
	return resp, nil
}

// validateConfig checks cfg and normalizes its URL to the API root.
func validateConfig(cfg *Config) error {
	if cfg.URL == "" {
		return errors.New("url is required (e.g. https://pws.example.com)")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("url must be an http(s) address such as https://pws.example.com, got %q", cfg.URL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("url must not carry a query, fragment or user info")
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
		if cfg.RunAs != "" || cfg.Password != "" || (cfg.RunAsSource != "" && cfg.RunAsSource != RunAsFixed) {
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
		if err := ValidateUserName("run_as", cfg.RunAs); err != nil {
			return err
		}
	}
	if err := ValidateRunAsSettings(cfg.RunAsSource, cfg.RunAsMountAccessor, cfg.RunAsMetadataKey); err != nil {
		return err
	}
	if apiKey && (cfg.RunAsSource == "" || cfg.RunAsSource == RunAsFixed) && cfg.RunAs == "" {
		return errors.New("api_key sign-in needs run_as (or a run_as_source that takes the user from the caller's identity)")
	}
	if cfg.Password != "" && cfg.RunAsSource != "" && cfg.RunAsSource != RunAsFixed {
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
func verifyError(cfg *Config, err error) string {
	const tail = " (write verify=false to store the config anyway)"
	who := fmt.Sprintf("api_key, run_as %q or password", cfg.RunAs)
	if cfg.OAuth() {
		who = "client_id or client_secret"
	}
	switch code := client.StatusCode(err); {
	case errors.Is(err, client.ErrInvalidInput):
		return fmt.Sprintf("invalid config: %v", err)
	case code == 0:
		return fmt.Sprintf("cannot reach Password Safe at %s: %v%s", cfg.URL, err, tail)
	case code == http.StatusUnauthorized:
		return fmt.Sprintf("Password Safe refused the sign-in (HTTP 401): the %s is wrong, the user may not use this API registration, or the registration does not allow Vault's address%s", who, tail)
	case code == http.StatusForbidden:
		return fmt.Sprintf("Password Safe refused the sign-in (HTTP 403): its licence is invalid or does not cover the API%s", tail)
	case code == http.StatusGone:
		return fmt.Sprintf("Password Safe refused the sign-in (HTTP 410): API version 3 is disabled on the server%s", tail)
	case code == http.StatusNotFound:
		return fmt.Sprintf("no Password Safe API at %s (HTTP 404): check url%s", cfg.URL, tail)
	default:
		return fmt.Sprintf("signing in to Password Safe failed: %v%s", err, tail)
	}
}
