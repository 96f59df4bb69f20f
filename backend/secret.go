package backend

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// SecretType is the lease type of a checked-out credential. A lease of this
// type IS a Password Safe release request: revoking it checks the request in.
const SecretType = "passwordsafe_request"

// Keys of the lease's internal data (JSON round trip: numbers come back as
// float64 or json.Number, see intOf).
const (
	intRequestID = "request_id"
	intHolder    = "holder"
	intRunAs     = "run_as"
	intRole      = "role"
	intExpiresAt = "expires_at" // request expiry, unix seconds (backend clock)
	intIssuedAt  = "issued_at"  // unix seconds (backend clock)
	intMaxTTL    = "max_ttl"    // lease max TTL in seconds from issued_at
	intTTL       = "ttl"        // renew increment in seconds (0 = mount default)
)

func (b *Backend) credsSecret() *framework.Secret {
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
		Renew:  b.renew,
		Revoke: b.revoke,
	}
}

// leaseInfo is the lease's internal data, decoded.
type leaseInfo struct {
	RequestID int
	Holder    string
	RunAs     string
	Role      string
	ExpiresAt time.Time
	IssuedAt  time.Time
	MaxTTL    time.Duration
	TTL       time.Duration
}

func (li *leaseInfo) internal() map[string]interface{} {
	return map[string]interface{}{
		"secret_type": SecretType, // what framework.Secret.Response adds
		intRequestID:  li.RequestID,
		intHolder:     li.Holder,
		intRunAs:      li.RunAs,
		intRole:       li.Role,
		intExpiresAt:  li.ExpiresAt.Unix(),
		intIssuedAt:   li.IssuedAt.Unix(),
		intMaxTTL:     int64(li.MaxTTL / time.Second),
		intTTL:        int64(li.TTL / time.Second),
	}
}

func leaseInfoFrom(s *logical.Secret) (*leaseInfo, error) {
	if s == nil {
		return nil, errors.New("request has no lease")
	}
	d := s.InternalData
	li := &leaseInfo{}
	var ok bool
	if li.RequestID, ok = intOf(d[intRequestID]); !ok || li.RequestID <= 0 {
		return nil, errors.New("lease has no Password Safe request ID")
	}
	li.Holder, _ = d[intHolder].(string)
	li.RunAs, _ = d[intRunAs].(string)
	li.Role, _ = d[intRole].(string)
	exp, _ := intOf(d[intExpiresAt])
	iss, _ := intOf(d[intIssuedAt])
	maxTTL, _ := intOf(d[intMaxTTL])
	ttl, _ := intOf(d[intTTL])
	li.ExpiresAt = time.Unix(int64(exp), 0)
	li.IssuedAt = time.Unix(int64(iss), 0)
	li.MaxTTL = time.Duration(maxTTL) * time.Second
	li.TTL = time.Duration(ttl) * time.Second
	return li, nil
}

// intOf reads a number that went through JSON (float64, json.Number) or not.
func intOf(v interface{}) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		return int(n), true
	case interface{ Int64() (int64, error) }:
		i, err := n.Int64()
		return int(i), err == nil
	case string:
		i, err := strconv.Atoi(n)
		return i, err == nil
	}
	return 0, false
}

// renew extends the lease by its TTL (or the requested increment, which
// Vault applies), never past the lease's max TTL and never past the
// request's expiry: a lease never promises time the request does not have.
// It costs no upstream call.
func (b *Backend) renew(_ context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	li, err := leaseInfoFrom(req.Secret)
	if err != nil {
		return nil, err
	}
	now := b.now()
	end := li.ExpiresAt
	if li.MaxTTL > 0 {
		if e := li.IssuedAt.Add(li.MaxTTL); e.Before(end) {
			end = e
		}
	}
	left := end.Sub(now).Truncate(time.Second)
	if left <= 0 {
		return nil, fmt.Errorf("cannot renew: Password Safe request %d ends at %s; read a new credential",
			li.RequestID, li.ExpiresAt.UTC().Format(time.RFC3339))
	}
	ttl := li.TTL
	if req.Secret.Increment > 0 {
		ttl = req.Secret.Increment
	}
	if ttl <= 0 {
		ttl = b.leaseSystem().DefaultLeaseTTL()
	}
	if ttl > left {
		ttl = left
	}
	resp := &logical.Response{Secret: req.Secret}
	resp.Secret.TTL = ttl
	resp.Secret.MaxTTL = li.MaxTTL
	return resp, nil
}

// revoke ends this lease's hold on its request and checks the request in
// when it was the last holder. Idempotent and keyed by request ID: a second
// revoke, or a request already ended upstream (404, or 4034 never
// approved), is done; any other failure returns an error so Vault retries,
// and the hold stays recorded until the check-in succeeds.
func (b *Backend) revoke(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	li, err := leaseInfoFrom(req.Secret)
	if err != nil {
		return nil, err
	}
	lock := b.lockRequest(li.RequestID)
	lock.Lock()
	defer lock.Unlock()

	rec, err := b.loadRecord(ctx, req.Storage, li.RequestID)
	if err != nil {
		return nil, err
	}
	if rec != nil {
		_, mine := rec.Holders[li.Holder]
		if len(rec.Holders) > 1 || (!mine && len(rec.Holders) > 0) {
			// Others still hold the request (reuse): just let go.
			if mine {
				delete(rec.Holders, li.Holder)
				if err := b.storeRecord(ctx, req.Storage, rec); err != nil {
					return nil, err
				}
			}
			b.Logger().Debug("lease released; request still held", "request_id", li.RequestID, "holders", len(rec.Holders))
			return nil, nil
		}
		if rec.Ended {
			return nil, b.dropRecord(ctx, req.Storage, li.RequestID, rec.pendingHolders() > 0)
		}
	}
	reason := "vault lease revoked: " + leaseName(req, li)
	if rec == nil {
		if err := b.checkin(ctx, req.Storage, li.RunAs, li.RequestID, reason); err != nil {
			return nil, err
		}
	} else {
		// The last holder: check in and delete the record at once (the
		// delete is a storage round trip). Under the request's lock nobody
		// can join meanwhile. If the check-in fails the record is put back;
		// if even that fails, Vault's retry of this revoke finds no record
		// and checks in all the same.
		dropped := make(chan error, 1)
		go func() { dropped <- b.dropRecord(ctx, req.Storage, li.RequestID, rec.pendingHolders() > 0) }()
		cerr := b.checkin(ctx, req.Storage, li.RunAs, li.RequestID, reason)
		derr := <-dropped
		if cerr != nil {
			if derr == nil {
				if perr := b.storeRecord(ctx, req.Storage, rec); perr != nil {
					b.Logger().Warn("could not restore the record of a request whose check-in failed", "request_id", li.RequestID, "error", perr)
				}
			}
			return nil, cerr
		}
		if derr != nil {
			return nil, derr // checked in; the retry finds the record, gets 404 and deletes it
		}
	}
	b.emit(ctx, eventCheckin, "request_id", strconv.Itoa(li.RequestID), "role", li.Role)
	return nil, nil
}

// leaseName names the lease in the check-in reason: its lease ID when Vault
// passes it, else the path and request.
func leaseName(req *logical.Request, li *leaseInfo) string {
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
		p += "creds/" + li.Role
	}
	return fmt.Sprintf("%s (request %d)", p, li.RequestID)
}

// checkin checks request id in as runAs. 204, 404 (already released or
// expired) and 403 4034 (never approved) are done.
func (b *Backend) checkin(ctx context.Context, s logical.Storage, runAs string, id int, reason string) error {
	cl, err := b.Client(ctx, s, runAs)
	if err != nil {
		return fmt.Errorf("checking in Password Safe request %d: %w", id, err)
	}
	if len(reason) > 1000 {
		reason = reason[:1000]
	}
	err = cl.Checkin(ctx, id, reason)
	switch {
	case err == nil:
		if l := b.Logger(); l.IsDebug() {
			l.Debug("checked in", "request_id", id, "run_as", runAs)
		}
		return nil
	case client.IsNotFound(err), client.IsNotApproved(err):
		b.Logger().Debug("request already ended upstream", "request_id", id, "status", client.StatusCode(err))
		return nil
	default:
		b.Logger().Warn("check-in failed; Vault will retry", "request_id", id, "error", err)
		return fmt.Errorf("checking in Password Safe request %d: %w", id, err)
	}
}
