package backend

import (
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// Storage keys of config and roles. Config is seal-wrapped (the API
// surface lists it in PathsSpecial).
const (
	ConfigKey  = "config"
	RolePrefix = "roles/"
)

// Held is what a mount holds in Password Safe.
type Held struct {
	Requests   int // requests backing leases or pending claims
	Queued     int // check-ins waiting for Password Safe to answer
	Unfinished int // checkouts a crash or a lost answer left for rollback
}

// Any reports whether anything is held.
func (h Held) Any() bool { return h.Requests+h.Queued+h.Unfinished > 0 }

// CheckoutInput is one creds read or write.
type CheckoutInput struct {
	Role         *Role
	TTL          time.Duration // per-call ttl; 0 = role, then mount default
	Reason       string        // overrides the role's reason when not empty
	TicketNumber string        // overrides the role's ticket number when not empty
	// NoWait creates the request and records it as pending for the caller's
	// entity without reading the credential (requests write).
	NoWait bool
}

// Config is the stored engine configuration. Secrets (APIKey, Password,
// ClientSecret, ClientKey, ProxyPassword) are write-only: config reads
// report only whether they are set.
type Config struct {
	URL           string `json:"url"` // API root, ending in /api/public/v3
	APIKey        string `json:"api_key,omitempty"`
	RunAs         string `json:"run_as,omitempty"`
	Password      string `json:"password,omitempty"`
	ClientID      string `json:"client_id,omitempty"`
	ClientSecret  string `json:"client_secret,omitempty"`
	CACert        string `json:"ca_cert,omitempty"`
	TLSServerName string `json:"tls_server_name,omitempty"`
	InsecureTLS   bool   `json:"insecure_tls,omitempty"`
	// ClientCert and ClientKey (PEM) are the client certificate presented
	// to Password Safe (mTLS); ClientKey is write-only.
	ClientCert string `json:"client_cert,omitempty"`
	ClientKey  string `json:"client_key,omitempty"`
	// ProxyURL is the HTTP proxy to Password Safe (empty: the environment's
	// HTTPS_PROXY/NO_PROXY); ProxyPassword is write-only.
	ProxyURL              string        `json:"proxy_url,omitempty"`
	ProxyUsername         string        `json:"proxy_username,omitempty"`
	ProxyPassword         string        `json:"proxy_password,omitempty"`
	AllowPlainHTTP        bool          `json:"allow_plain_http,omitempty"`
	RequestTimeout        time.Duration `json:"request_timeout"`
	MaxRetries            int           `json:"max_retries"`
	MaxConcurrentRequests int           `json:"max_concurrent_requests"`
	RunAsSource           string        `json:"run_as_source,omitempty"`
	RunAsMountAccessor    string        `json:"run_as_mount_accessor,omitempty"`
	RunAsMetadataKey      string        `json:"run_as_metadata_key,omitempty"`
	// RunAsAllowed and RunAsDenied bound the users an identity-derived
	// run-as may name (see MatchUserPattern); the config's own RunAs is
	// never allowed to an identity.
	RunAsAllowed []string `json:"run_as_allowed,omitempty"`
	RunAsDenied  []string `json:"run_as_denied,omitempty"`
}

// OAuth reports whether the config signs in with OAuth client credentials
// (then there is no run-as: Password Safe acts as the OAuth client's user).
func (c *Config) OAuth() bool { return c.ClientID != "" }

// ClientConfig is the client.Config for acting as runAs (ignored for OAuth).
func (c *Config) ClientConfig(runAs string) client.Config {
	cc := client.Config{
		BaseURL:            c.URL,
		ClientID:           c.ClientID,
		ClientSecret:       c.ClientSecret,
		TLSServerName:      c.TLSServerName,
		InsecureSkipVerify: c.InsecureTLS,
		ProxyURL:           c.ProxyURL,
		ProxyUsername:      c.ProxyUsername,
		ProxyPassword:      c.ProxyPassword,
		Timeout:            c.RequestTimeout,
		MaxRetries:         c.MaxRetries,
		UserAgent:          "vault-plugin-secrets-passwordsafe",
	}
	if c.MaxRetries == 0 {
		cc.MaxRetries = -1 // client: 0 means "default"; ours means "none"
	}
	if c.CACert != "" {
		cc.CACertPEM = []byte(c.CACert)
	}
	if c.ClientCert != "" || c.ClientKey != "" {
		cc.ClientCertPEM, cc.ClientKeyPEM = []byte(c.ClientCert), []byte(c.ClientKey)
	}
	if !c.OAuth() {
		cc.APIKey = c.APIKey
		cc.RunAs = runAs
		if runAs == c.RunAs {
			cc.Password = c.Password
		}
	}
	return cc
}

// Run-as sources (config and role). Empty on a role means "as the config
// says"; empty on the config means fixed.
const (
	RunAsFixed          = "fixed"
	RunAsEntityName     = "entity_name"
	RunAsEntityAlias    = "entity_alias"
	RunAsEntityMetadata = "entity_metadata"
)

// Role targets.
const (
	TargetAccount = "account"
	TargetAlias   = "alias"
)

// Conflict options of a role.
const (
	ConflictNone  = "none"
	ConflictReuse = "reuse"
	ConflictRenew = "renew"
)

// Role is a stored role: one Password Safe target (resolved to IDs when the
// role is written) and how to request it.
type Role struct {
	Name string `json:"name"`

	Target      string `json:"target"` // TargetAccount or TargetAlias
	SystemID    int    `json:"system_id"`
	SystemName  string `json:"system_name"`
	AccountID   int    `json:"account_id"`
	AccountName string `json:"account_name"`
	DomainName  string `json:"domain_name,omitempty"`
	AliasID     int    `json:"alias_id,omitempty"`
	AliasName   string `json:"alias_name,omitempty"`
	// AccountMaxMinutes is the account's MaximumReleaseDuration at write time
	// (0 = unknown, no cap beyond the API's 525600).
	AccountMaxMinutes int `json:"account_max_minutes"`

	AccessType             string        `json:"access_type"`
	ApplicationID          int           `json:"application_id,omitempty"`
	CredentialTypes        []string      `json:"credential_types"`
	TTL                    time.Duration `json:"ttl"`
	MaxTTL                 time.Duration `json:"max_ttl"`
	Reason                 string        `json:"reason,omitempty"`
	TicketSystemID         int           `json:"ticket_system_id,omitempty"`
	TicketNumber           string        `json:"ticket_number,omitempty"`
	AccessPolicyScheduleID int           `json:"access_policy_schedule_id,omitempty"`
	ConflictOption         string        `json:"conflict_option"`
	RotateOnCheckin        bool          `json:"rotate_on_checkin"`
	ApprovalWait           time.Duration `json:"approval_wait"`

	RunAs              string `json:"run_as,omitempty"`
	RunAsSource        string `json:"run_as_source,omitempty"`
	RunAsMountAccessor string `json:"run_as_mount_accessor,omitempty"`
	RunAsMetadataKey   string `json:"run_as_metadata_key,omitempty"`
}

// Wants reports whether the role asks for credential type t.
func (r *Role) Wants(t client.CredentialType) bool {
	for _, c := range r.CredentialTypes {
		if c == string(t) {
			return true
		}
	}
	return false
}

// EffectiveRunAs says where the run-as user of a request on role comes from:
// the role's run_as_source when set; else the role's fixed run_as when set
// (a role's run_as overrides the config); else the config's source (default
// fixed) and the config's run_as. fixed is the fixed user name, if any.
func EffectiveRunAs(cfg *Config, role *Role) (source, fixed string) {
	source, fixed = cfg.RunAsSource, cfg.RunAs
	if role != nil {
		switch {
		case role.RunAsSource != "":
			source = role.RunAsSource
			if role.RunAs != "" {
				fixed = role.RunAs
			}
		case role.RunAs != "":
			source, fixed = RunAsFixed, role.RunAs
		}
	}
	if source == "" {
		source = RunAsFixed
	}
	return source, fixed
}

// RunAsSettings returns the effective identity settings (mount accessor,
// metadata key) for identity-derived sources: the role's when it sets a
// source, else the config's.
func RunAsSettings(cfg *Config, role *Role) (mountAccessor, metadataKey string) {
	if role != nil && role.RunAsSource != "" {
		return role.RunAsMountAccessor, role.RunAsMetadataKey
	}
	return cfg.RunAsMountAccessor, cfg.RunAsMetadataKey
}
