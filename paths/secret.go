package paths

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/mitchellh/mapstructure"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// SecretType is the lease type of a checked-out credential. A lease of this
// type IS a Password Safe release request: revoking it checks the request in.
const SecretType = "passwordsafe_request"

// leaseData is a lease's internal data as Vault stores it. Its keys and
// units are a stored format: leases issued by every earlier version keep
// renewing and revoking.
type leaseData struct {
	RequestID int    `mapstructure:"request_id"`
	Holder    string `mapstructure:"holder"`
	RunAs     string `mapstructure:"run_as"`
	Role      string `mapstructure:"role"`
	ExpiresAt int64  `mapstructure:"expires_at"` // request expiry, unix seconds (engine clock)
	IssuedAt  int64  `mapstructure:"issued_at"`  // unix seconds (engine clock)
	MaxTTL    int64  `mapstructure:"max_ttl"`    // lease max TTL in seconds from issued_at
	TTL       int64  `mapstructure:"ttl"`        // renew increment in seconds (0 = mount default)
}

func leaseInternal(l backend.Lease) map[string]interface{} {
	return map[string]interface{}{
		"request_id": l.RequestID,
		"holder":     l.Holder,
		"run_as":     l.RunAs,
		"role":       l.Role,
		"expires_at": l.ExpiresAt.Unix(),
		"issued_at":  l.IssuedAt.Unix(),
		"max_ttl":    int64(l.MaxTTL / time.Second),
		"ttl":        int64(l.TTL / time.Second),
	}
}

// leaseOf decodes a lease's internal data, which comes back from Vault as
// decoded JSON (numbers as float64 or json.Number). The decoding is weakly
// typed, as the data of older leases may be: a number may come as a string
// or a float.
func leaseOf(s *logical.Secret) (*backend.Lease, error) {
	if s == nil {
		return nil, errors.New("request has no lease")
	}
	var d leaseData
	if err := mapstructure.WeakDecode(s.InternalData, &d); err != nil {
		return nil, fmt.Errorf("decoding the lease's internal data: %w", err)
	}
	if d.RequestID <= 0 {
		return nil, errors.New("lease has no Password Safe request ID")
	}
	return &backend.Lease{
		RequestID: d.RequestID, Holder: d.Holder, RunAs: d.RunAs, Role: d.Role,
		ExpiresAt: time.Unix(d.ExpiresAt, 0), IssuedAt: time.Unix(d.IssuedAt, 0),
		MaxTTL: time.Duration(d.MaxTTL) * time.Second, TTL: time.Duration(d.TTL) * time.Second,
	}, nil
}

func credsSecret(e *backend.Engine) *framework.Secret {
	h := &secretHandler{engine: e}
	return &framework.Secret{
		Type: SecretType,
		Fields: map[string]*framework.FieldSchema{
			"username":     {Type: framework.TypeString, Description: "The account name."},
			"domain":       {Type: framework.TypeString, Description: "The account's domain, empty for local accounts."},
			"password":     {Type: framework.TypeString, Description: "The account's password."},
			"private_key":  {Type: framework.TypeString, Description: "The account's DSS/SSH private key, when the role asks for dsskey."},
			"passphrase":   {Type: framework.TypeString, Description: "The private key's passphrase, when the role asks for passphrase."},
			"request_id":   {Type: framework.TypeInt, Description: "The Password Safe release request backing this lease."},
			"system_name":  {Type: framework.TypeString, Description: "The managed system."},
			"account_name": {Type: framework.TypeString, Description: "The managed account."},
			"expires_at":   {Type: framework.TypeTime, Description: "When the Password Safe request expires; the lease never outlives it."},
		},
		Renew:  h.renew,
		Revoke: h.revoke,
	}
}

type secretHandler struct{ engine *backend.Engine }

// renew asks the engine how long the lease may live on; see Engine.Renew.
func (h *secretHandler) renew(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	l, err := leaseOf(req.Secret)
	if err != nil {
		return nil, err
	}
	ttl, err := h.engine.Renew(ctx, req.Storage, l, req.Secret.Increment)
	if err != nil {
		return apiError(req, err)
	}
	resp := &logical.Response{Secret: req.Secret}
	resp.Secret.TTL = ttl
	resp.Secret.MaxTTL = l.MaxTTL
	return resp, nil
}

// revoke ends the lease's hold on its request; see Engine.Revoke.
func (h *secretHandler) revoke(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	l, err := leaseOf(req.Secret)
	if err != nil {
		return nil, err
	}
	if err := h.engine.Revoke(ctx, req.Storage, l, leaseName(req, l)); err != nil {
		return apiError(req, err)
	}
	return nil, nil
}

// leaseName names the lease in the check-in reason: its lease ID when Vault
// passes it, else the path and request.
func leaseName(req *logical.Request, l *backend.Lease) string {
	if req.Secret != nil && req.Secret.LeaseID != "" {
		return req.Secret.LeaseID
	}
	p := strings.TrimSuffix(req.MountPoint, "/")
	if p != "" {
		p += "/"
	}
	if req.Path != "" {
		p += req.Path
	} else {
		p += "creds/" + l.Role
	}
	return fmt.Sprintf("%s (request %d)", p, l.RequestID)
}

// grantResponse is the response of a checked-out credential, under a lease
// of the secret type.
func grantResponse(secret *framework.Secret, g *backend.Grant) *logical.Response {
	c := g.Credential
	data := map[string]interface{}{
		"username":     c.Username,
		"domain":       c.Domain,
		"request_id":   c.RequestID,
		"system_name":  c.SystemName,
		"account_name": c.AccountName,
		"expires_at":   c.ExpiresAt.UTC().Format(time.RFC3339),
	}
	for t, v := range c.Values {
		data[credentialField(t)] = v
	}
	resp := secret.Response(data, leaseInternal(g.Lease))
	resp.Secret.TTL, resp.Secret.MaxTTL = g.TTL, g.MaxTTL
	resp.Secret.Renewable = true
	for _, w := range g.Warnings {
		resp.AddWarning(w)
	}
	return resp
}

// credentialField is the response field of a credential type.
func credentialField(t client.CredentialType) string {
	switch t {
	case client.CredentialDSSKey:
		return "private_key"
	case client.CredentialPassphrase:
		return "passphrase"
	}
	return "password"
}
